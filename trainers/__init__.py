"""A compact GRPO / REPO-R trainer with the entropy-control family (SPEC.md §3).

Read in this order: ``tasks`` (two synthetic, verifiable task families),
``policy`` (tiny GPT, Hugging Face adapter, sampling), ``losses`` (the math,
pure functions), ``controllers`` (zeta, alpha, eps_high), ``methods`` (each
method as one small difference on GRPO), ``loop`` (rollout -> advantage ->
update -> controller -> log), ``rundir`` (files of a run), ``warmup`` (the
base policy), ``cli`` (``rollout-diversity train`` / ``warmup``).

Importing this package is light: torch loads only with the modules that need it.
"""

"""A compact GRPO / REPO-R trainer with the entropy-control family (SPEC.md §3).

Read in this order:

- ``tasks``            two synthetic, verifiable task families (the ``TASKS`` registry)
- ``tokenizer``        word-level tokenizer, and the adapter for a Hugging Face one
- ``policy``           tiny GPT, Hugging Face adapter, sampling
- ``policy_builder``   a policy and its tokenizer on a device, from the policy config
- ``rollouts``         sampled groups, their grades, their tokens' log-probabilities and entropies
- ``losses``           the math, pure functions (the ``AGGREGATIONS`` and ``KL_ESTIMATORS`` registries)
- ``controllers``      zeta, alpha, eps_high
- ``methods``          each method as one small difference on GRPO (the ``METHODS`` registry)
- ``config``           typed options, checked against the registries
- ``loop``             rollout -> advantage -> update -> controller -> log
- ``rundir``           writing a run directory (its layout: ``rollout_common.run_directory``)
- ``warmup``           the base policy
- ``commands``         ``rollout-diversity train`` / ``warmup``
- ``experiment``       ``rollout-diversity experiment``: the two-phase experiment end to end
- ``experiment_claims``  the experiment's claims, checked against its summary tables

Importing this package is light: torch loads only with the modules that need it.
"""

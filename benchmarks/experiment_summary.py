"""Re-check a published two-phase experiment against its claims and the seed's figures.

    .venv/bin/python benchmarks/experiment_summary.py                     # data/experiment
    .venv/bin/python benchmarks/experiment_summary.py data/experiment_v1  # the first experiment
    .venv/bin/python benchmarks/experiment_summary.py runs/quick/summary

Prints, per lineage, the mean and 95% interval across seeds of the
quantities SPEC.md §4 reports, with the seed's value beside each, then one
verdict per claim: AGREES, DOES NOT AGREE or NOT MEASURABLE
(``trainers/experiment_claims.py`` computes them). The claims and their
thresholds, fixed before the reported run; "interval" is the 95% t interval
across seeds of a per-seed difference:

 1. GRPO's entropy collapses in phase 1: last / first 10% of steps < 0.5 on every seed.
 2. GRPO's entropy collapses again in phase 2: the same.
 3. REPO-R holds its target in phase 1: mean |H - H*| over the second half < 10% of H*.
 4. REPO-R and the raised target hold theirs in phase 2: the same, each.
 5. The raised target holds more entropy than REPO-R in phase 2: interval above 0.
 6. Task-A reward parity at the end of phase 1: the interval of REPO-R - GRPO inside ±0.05.
 7. Task-A retention parity at the end of phase 2: REPO-R - GRPO and raised - GRPO inside ±0.05.
 8. GRPO's phase-2 reward peaks, then falls (best evaluation before the last, minus the last): interval above 0.
 9. REPO-R ends phase 2 above GRPO: interval above 0.
10. REPO-R improves in phase 2 where GRPO stalls (phase-2 gain, REPO-R - GRPO): interval above 0.
11. Raising the target raised performance (raised - REPO-R at the end of phase 2): interval above 0.
12. GRPO is less diverse than REPO-R at the end of phase 2: Vendi and pairwise cosine intervals above 0.
13. The raised target is more diverse than REPO-R at the end of phase 2 (Vendi): interval above 0.
14. GRPO's repetition fraction climbs through phase 2: interval above 0.
"""

import sys

from trainers.experiment_claims import claims_text

if __name__ == "__main__":
    print(claims_text(*sys.argv[1:]))

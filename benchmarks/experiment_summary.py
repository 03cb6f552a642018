"""Re-check the published two-phase experiment against its claims and the seed's figures.

    .venv/bin/python benchmarks/experiment_summary.py                 # data/experiment
    .venv/bin/python benchmarks/experiment_summary.py runs/quick/summary

Prints, per lineage, the quantities SPEC.md §4 reports with the seed's value
beside each, then one PASS/FAIL line per claim (trainers/experiment_claims.py).
"""

import sys

from trainers.experiment_claims import claims_text

if __name__ == "__main__":
    print(claims_text(*sys.argv[1:]))

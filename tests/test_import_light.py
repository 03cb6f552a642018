"""`import diversity` must not pull in torch, sentence-transformers, matplotlib or Ray."""

import subprocess
import sys


def test_import_diversity_is_light() -> None:
    code = (
        "import sys, diversity, rollout_cli; "
        "rollout_cli.build_parser(); "
        "heavy = [m for m in ('torch', 'sentence_transformers', 'matplotlib', 'transformers', 'ray') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""

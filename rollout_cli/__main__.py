"""``python -m rollout_cli ...`` is ``rollout-diversity ...``."""

import sys

from rollout_cli import main

sys.exit(main())

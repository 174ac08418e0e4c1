"""``python -m robo_orch.cli``: the same as the ``robo-orch`` command."""

import sys

from robo_orch.cli.main import main

sys.exit(main())

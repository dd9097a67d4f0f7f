"""``python -m exact_online_core.cli``: the same as the ``exact-online`` console script."""

import sys

from exact_online_core.cli import main

sys.exit(main())

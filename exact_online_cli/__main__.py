"""``python -m exact_online_cli``: the same as the ``exact-online`` console script."""

import sys

from exact_online_cli import main

sys.exit(main())

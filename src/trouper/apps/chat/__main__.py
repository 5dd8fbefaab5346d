"""``python -m trouper.apps.chat``: the same as ``trouper chat``."""

import sys

from ._cli import main

sys.exit(main())

"""``python -m kaito.cli`` = the ``kaito`` command."""

import sys

from kaito.cli import main

sys.exit(main())

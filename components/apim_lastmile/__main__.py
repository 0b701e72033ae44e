"""``python -m apim_lastmile plan <stack>``."""

import sys

from .tools.cli import main

sys.exit(main())

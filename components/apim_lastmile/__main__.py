"""``python -m apim_lastmile plan <stack>``."""

import sys

from .cli import main

sys.exit(main())

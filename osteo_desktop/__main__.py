"""``python -m osteo_desktop``: the ``osteo`` command line."""

import sys

from .cli import main

sys.exit(main())

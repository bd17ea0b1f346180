"""``python -m ocrforge`` is the ``ocrforge`` command."""

import sys

from .cli import main

sys.exit(main())

"""``python -m exospin``: the same as the ``exospin`` command."""

import sys

from .cli import main

sys.exit(main())

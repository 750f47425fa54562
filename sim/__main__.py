"""``python -m sim``: the ``qisim`` command, for an environment without its entry point."""

import sys

from .cli import main

sys.exit(main())

"""``python -m sim``: the ``qisim`` command, for an environment without its entry point."""

import sys

from .console import main

sys.exit(main())

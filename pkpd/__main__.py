"""``python -m pkpd``: the same as the ``pkpd`` command."""
import sys

from pkpd.cli.main import main

sys.exit(main())

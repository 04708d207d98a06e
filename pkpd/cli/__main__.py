"""``python -m pkpd.cli``: the same as the ``pkpd`` command."""
import sys

from pkpd.cli.main import main

sys.exit(main())

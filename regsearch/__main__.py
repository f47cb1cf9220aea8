"""``python -m regsearch``: the ``regsearch`` command."""

import sys

from regsearch._cli import main

if __name__ == "__main__":
    sys.exit(main())

"""``python -m kernbench``: the ``kernbench`` command line (:mod:`kernbench.cli`)."""

import sys

from kernbench.cli import main

if __name__ == "__main__":
    sys.exit(main())

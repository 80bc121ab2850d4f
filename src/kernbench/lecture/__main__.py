"""``python -m kernbench.lecture --out DIR [--quick] [--backends a,b]``."""

import sys

from kernbench.lecture.cli import main

sys.exit(main())

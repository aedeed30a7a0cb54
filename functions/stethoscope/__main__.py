"""`python -m stethoscope`: see `stethoscope.cli`."""

import sys

from stethoscope.cli import main

sys.exit(main())

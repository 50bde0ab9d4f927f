"""``python -m repro_golden`` runs the command line."""

import sys

from repro_golden.cli import main

sys.exit(main())

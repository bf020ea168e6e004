"""python -m data_extract.cli: the same as the data-extract command."""

import sys

from data_extract.cli import main

sys.exit(main())

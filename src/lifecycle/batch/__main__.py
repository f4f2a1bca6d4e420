"""``python -m lifecycle.batch``: the batch job's command line (``lifecycle predict``)."""

import sys

from lifecycle.batch.command import main

sys.exit(main(sys.argv[1:]))

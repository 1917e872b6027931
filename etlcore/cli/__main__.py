"""``python -m etlcore.cli``: the same as the ``etlcore`` command."""

import sys

from etlcore.cli.main import main

sys.exit(main())

"""`python -m gateway` is the same as `interview-gateway`."""

import sys

from handlers.cli import main

sys.exit(main())

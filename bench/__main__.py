"""`python -m bench` is `interview-gateway-bench`."""

from bench.cli import main

raise SystemExit(main())

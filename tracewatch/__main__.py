"""`python -m tracewatch` runs the command-line interface."""

from tracewatch.cli import main

raise SystemExit(main())

"""`python -m tracewatch` runs the command-line interface, as the `tracewatch` command does."""

from tracewatch.cli import entry

raise SystemExit(entry())

"""The `tracewatch` command line: argument parsing, settings, and exit codes.

Exit codes: 0 success, 1 a runtime failure, 2 a usage or configuration error
(always one line on stderr, never a traceback).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from tracewatch import __version__
from tracewatch.config import FIELDS, ConfigError, Settings, load
from tracewatch.ops import logs

EXIT_USAGE = 2

_DESCRIPTION = """\
tracewatch watches a Kubernetes API server (read-only) and reconstructs
OpenTelemetry traces of object lifecycles -- a pod's startup, where the time
went between scheduling, image pull, container start and readiness -- and
exports them over OTLP to Jaeger or any OTLP backend.

Settings come from a YAML file (--config or $TRACEWATCH_CONFIG), then
TRACEWATCH_* environment variables, then flags; later ones win.
"""

_RUN_EPILOG = """\
examples:
  tracewatch run                       # current context; OTLP gRPC to localhost:4317
  tracewatch run --context prod -n web -n api --otlp-endpoint jaeger-collector:4317
  tracewatch run --exporter console    # print trace trees instead of exporting
  tracewatch run --exporter jsonl --output spans.jsonl
"""

_DEMO_EPILOG = """\
The demo starts a simulated Kubernetes API server with a scheduler and kubelets
on 127.0.0.1, creates a few pods, runs the real tracewatch pipeline against it
over HTTP and prints the traces it reconstructed. It exits by itself.
"""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: `tracewatch run: error: ... (see --help)`, exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _add_settings_flags(parser: argparse.ArgumentParser, *, skip: Sequence[str] = ()) -> None:
    parser.add_argument("--config", metavar="FILE", help="YAML config file (see config/)")
    for spec in FIELDS:
        if spec.name in skip:
            continue
        flag = "--" + spec.name.replace("_", "-")
        names = [flag, "-n"] if spec.name == "namespace" else [flag]
        default_note = "" if spec.default in (None, (), "") else f" (default: {spec.default})"
        kwargs: dict[str, Any] = {
            "dest": spec.name,
            "default": None,
            "help": spec.help + default_note,
            "metavar": spec.metavar,
        }
        if spec.choices:
            kwargs["choices"] = spec.choices
            kwargs["metavar"] = None
        if spec.repeatable:
            kwargs["action"] = "append"
        parser.add_argument(*names, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tracewatch",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"tracewatch {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    run = commands.add_parser(
        "run",
        help="watch a cluster and export traces (until interrupted)",
        description="Watch a cluster read-only and export lifecycle traces until interrupted.",
        epilog=_RUN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_settings_flags(run)
    demo = commands.add_parser(
        "demo",
        help="trace pod startups on a built-in simulated cluster and print them",
        description="Run tracewatch end to end against a simulated cluster and print the traces.",
        epilog=_DEMO_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument("--pods", type=int, default=3, metavar="N",
                      help="how many pods the scenario creates (default: 3)")
    demo.add_argument("--seed", type=int, default=None, metavar="N",
                      help="random seed for the simulated latencies")
    _add_settings_flags(demo, skip=("kubeconfig", "context"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    flags = vars(args)
    defaults: dict[str, Any] = {}
    if args.command == "demo":
        defaults = {"exporter": "console", "settle_delay": 0.5, "log_level": "warning"}
        if args.pods < 1 or args.pods > 500:
            parser.exit(EXIT_USAGE, "tracewatch demo: error: --pods must be between 1 and 500\n")
    try:
        settings = load(flags=flags, config_file=args.config, defaults=defaults)
    except ConfigError as exc:
        print(f"tracewatch {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    logs.configure(level=settings.log_level, fmt=settings.log_format)
    try:
        return asyncio.run(_dispatch(args, settings))
    except KeyboardInterrupt:
        return 130


async def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "run":
        from tracewatch.daemon import run_daemon

        return await run_daemon(settings=settings)
    from tracewatch.demo import run_demo

    return await run_demo(settings=settings, pods=args.pods, seed=args.seed)

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
from tracewatch.config import FIELDS, ConfigError, Settings, load, parse_duration
from tracewatch.gctune import tune_gc
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
The demo starts a simulated Kubernetes API server with a scheduler, kubelets
and controllers on 127.0.0.1, runs a scenario against it, runs the real
tracewatch pipeline against it over HTTP and prints the traces it
reconstructed. It exits by itself.

scenarios:
{scenarios}
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
        if isinstance(spec.default, bool):
            # --otlp-insecure / --no-otlp-insecure; None still means "not given".
            kwargs["action"] = argparse.BooleanOptionalAction
            kwargs["metavar"] = None
            kwargs["help"] = spec.help
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
        epilog=_DEMO_EPILOG.format(scenarios=_scenario_list()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument("--scenario", default="startup", metavar="NAME",
                      help="what the simulated cluster does (default: startup; list below)")
    demo.add_argument("--pods", type=int, default=3, metavar="N",
                      help="how many pods the startup scenario creates (default: 3)")
    demo.add_argument("--seed", type=int, default=None, metavar="N",
                      help="random seed for the simulated latencies")
    _add_settings_flags(demo, skip=("kubeconfig", "context", "ops_address"))
    _add_capture_commands(commands)
    _add_sim_command(commands)
    return parser


def _add_sim_command(commands: Any) -> None:
    sim = commands.add_parser(
        "sim",
        help="serve a simulated cluster (API server and control plane) until interrupted",
        description="Serve the simulated Kubernetes API server with its scheduler, kubelets "
        "and controllers, and write a kubeconfig so kubectl or `tracewatch run` can use it.",
        epilog="example:\n  tracewatch sim --port 6443 --kubeconfig-out /tmp/sim.kubeconfig\n"
        "  KUBECONFIG=/tmp/sim.kubeconfig kubectl get pods -A -w\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sim.add_argument("--host", default="127.0.0.1",
                     help="address to listen on (default: 127.0.0.1)")
    sim.add_argument("--port", type=int, default=6443, metavar="P",
                     help="port to listen on, 0 for any free one (default: 6443)")
    sim.add_argument("--kubeconfig-out", required=True, metavar="FILE",
                     help="where to write the kubeconfig (mode 0600; it holds the token)")
    sim.add_argument("--tls", action=argparse.BooleanOptionalAction, default=True,
                     help="serve HTTPS with the simulator's CA (kubectl sends tokens only over "
                     "TLS; default: on)")
    sim.add_argument("--scenario", default=None, metavar="NAME",
                     help="scenario to run while serving (default: empty)")
    sim.add_argument("--seed", type=int, default=None, metavar="N",
                     help="random seed for the simulated latencies")


_WATCH_ONLY = ("kubeconfig", "context", "namespace", "resources", "label_selector", "shard",
               "total_shards")
_RECORD_EPILOG = """\
Each line is {"observedAt": "<RFC 3339 UTC, ns>", "type": "ADDED|MODIFIED|DELETED",
"object": {...}} with the object as the API server sent it. Deletions found by a
relist (their time unknown) are recorded as DELETED with the last object seen.

examples:
  tracewatch record --output capture.jsonl --duration 10m
  tracewatch record -o capture.jsonl -n shop --resources pods,events
"""
_REPLAY_EPILOG = """\
examples:
  tracewatch replay capture.jsonl --exporter console
  tracewatch replay capture.jsonl --exporter jsonl --output spans.jsonl
  tracewatch replay capture.jsonl --otlp-endpoint localhost:4317
"""


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_capture_commands(commands: Any) -> None:
    record = commands.add_parser(
        "record",
        help="write what the informers observe to a JSONL capture",
        description="Watch a cluster read-only and write every observed change, full object "
        "included, to a JSONL capture (for bug reports and `tracewatch replay`).",
        epilog=_RECORD_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    record.add_argument("--output", "-o", dest="capture_output", metavar="FILE", default=None,
                        help="capture file to write ('-' for stdout)")
    record.add_argument("--duration", type=_duration, default=None, metavar="DURATION",
                        help="stop after this long, e.g. 90s or 10m (default: until interrupted)")
    export_only = tuple(f.name for f in FIELDS if f.name not in _WATCH_ONLY
                        and f.name not in ("log_format", "log_level"))
    _add_settings_flags(record, skip=export_only)
    replay = commands.add_parser(
        "replay",
        help="rebuild and export traces from a capture, with its recorded times",
        description="Feed a capture from `tracewatch record` through the same core with the "
        "recorded receipt times, and export the traces as `run` would.",
        epilog=_REPLAY_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    replay.add_argument("capture", metavar="CAPTURE", help="a JSONL capture file")
    _add_settings_flags(replay, skip=(*_WATCH_ONLY, "ops_address"))


def entry() -> int:
    """The `tracewatch` command (console script and `python -m tracewatch`): `main` in a
    process that runs nothing else, so the garbage collector is tuned for it (`gctune`)."""
    tune_gc()
    return main()


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` (default: sys.argv) and run the command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    if args.command == "sim":
        return _run_sim(args)
    flags = vars(args)
    defaults: dict[str, Any] = {}
    if args.command == "demo":
        defaults = {"exporter": "console", "settle_delay": 0.5, "log_level": "warning"}
        if args.pods < 1 or args.pods > 500:
            parser.exit(EXIT_USAGE, "tracewatch demo: error: --pods must be between 1 and 500\n")
        from tracewatch.sim.scenarios import SCENARIOS

        if args.scenario not in SCENARIOS:
            parser.exit(EXIT_USAGE, f"tracewatch demo: error: unknown scenario {args.scenario!r} "
                        f"(choose from {', '.join(sorted(SCENARIOS))})\n")
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


def _run_sim(args: argparse.Namespace) -> int:
    from tracewatch.sim.options import SimOptions
    from tracewatch.sim.serve import serve

    if not 0 <= args.port <= 65535:
        print("tracewatch sim: error: --port must be between 0 and 65535", file=sys.stderr)
        return EXIT_USAGE
    try:
        return asyncio.run(
            serve(
                host=args.host,
                port=args.port,
                kubeconfig_out=args.kubeconfig_out,
                tls=args.tls,
                scenario=args.scenario,
                options=SimOptions(seed=args.seed),
                standalone=True,
            )
        )
    except KeyboardInterrupt:
        return 130


async def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "record":
        from tracewatch.capture.recording import run_record

        return await run_record(
            settings=settings, output=args.capture_output, duration=args.duration
        )
    if args.command == "replay":
        from tracewatch.capture.replay import run_replay

        return await run_replay(settings=settings, path=args.capture)
    if args.command == "run":
        from tracewatch.daemon import run_daemon

        return await run_daemon(settings=settings)
    from tracewatch.demo import run_demo

    return await run_demo(
        settings=settings, scenario=args.scenario, pods=args.pods, seed=args.seed
    )


def _scenario_list() -> str:
    from tracewatch.sim.scenarios import SCENARIOS

    return "\n".join(f"  {name:<20} {SCENARIOS[name].description}" for name in sorted(SCENARIOS))

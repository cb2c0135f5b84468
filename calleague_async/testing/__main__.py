"""Run the sandbox from the command line: ``python -m calleague_async.testing --port 8000``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Sequence

from calleague_async.testing._config import DEFAULT_PATHS, SandboxConfig
from calleague_async.testing._server import SandboxServer


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m calleague_async.testing",
        description="Serve an in-memory Calleague API until Ctrl-C.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port; 0 picks a free one (8000)")
    parser.add_argument(
        "--api-key",
        help="accepted key (else $CALLEAGUE_API_KEY, else a generated sk_test_ key)",
    )
    parser.add_argument("--calls", type=int, default=50, help="seeded calls, lazily made (50)")
    parser.add_argument("--agents", type=int, default=3, help="seeded assistants (3)")
    parser.add_argument("--seed", type=int, default=0, help="seed for generated data (0)")
    parser.add_argument(
        "--envelope", action="store_true", help="wrap replies as {code, statusText, data}"
    )
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each reply")
    parser.add_argument("--rate-limit", metavar="N/SECONDS", help='e.g. "10/60": 10 per minute')
    parser.add_argument(
        "--call-progress",
        type=float,
        metavar="SECONDS",
        help="move calls made at run time one step (queued -> in-progress -> completed) "
        "every SECONDS, firing webhook events (default: every 0.1 s while a webhook is "
        "registered, else they stay as made)",
    )
    parser.add_argument(
        "--seed-002-limits", action="store_true", help="enforce seed 002's rate-limit table"
    )
    parser.add_argument(
        "--path",
        action="append",
        default=[],
        metavar="OPERATION=PATH",
        help=f"override a path; operations: {', '.join(DEFAULT_PATHS)}",
    )
    return parser


def _config(args: argparse.Namespace, parser: argparse.ArgumentParser) -> tuple[SandboxConfig, str]:
    if args.api_key:
        api_key, source = args.api_key, "(from --api-key)"
    elif os.environ.get("CALLEAGUE_API_KEY"):
        api_key, source = os.environ["CALLEAGUE_API_KEY"], "(from CALLEAGUE_API_KEY)"
    else:
        api_key, source = None, ""
    paths: dict[str, str] = {}
    for item in args.path:
        name, sep, path = item.partition("=")
        if not sep:
            parser.error(f"--path expects OPERATION=PATH, got {item!r}")
        paths[name.strip()] = path.strip()
    try:
        config = SandboxConfig(
            api_key=api_key,
            agents=args.agents,
            calls=args.calls,
            seed=args.seed,
            envelope=args.envelope,
            latency=args.latency,
            rate_limit=args.rate_limit,
            paths=paths,
            call_progress_seconds="auto" if args.call_progress is None else args.call_progress,
            seed_002_limits=args.seed_002_limits,
            record_requests=False,  # nobody can read them here; don't grow forever
        )
    except (TypeError, ValueError) as error:
        parser.error(str(error))
    return config, source


async def _serve(config: SandboxConfig, host: str, port: int, key_source: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, AttributeError):  # not on Windows
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    async with SandboxServer(config, host=host, port=port) as sandbox:
        # A key the user supplied may be a real one from their environment: don't echo it.
        shown = key_source or sandbox.api_key
        print(f"Calleague sandbox on {sandbox.base_url}  api key: {shown}", flush=True)
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, serve until Ctrl-C or SIGTERM, and return the exit status."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    config, key_source = _config(args, parser)
    try:
        asyncio.run(_serve(config, args.host, args.port, key_source))
    except KeyboardInterrupt:
        pass
    except OSError as error:
        print(
            f"calleague sandbox: cannot serve on {args.host}:{args.port}: {error}", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

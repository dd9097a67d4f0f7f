"""Command line: ``python -m exact_online_sandbox serve`` (also behind ``exact-online sandbox``)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from types import FrameType

from exact_online_sandbox.app import SandboxApp
from exact_online_sandbox.server import DB_FILE, build_server

log = logging.getLogger("exact_online_sandbox")


def _size(text: str) -> str | dict[str, int]:
    if text.lstrip().startswith("{"):
        value = json.loads(text)
        if not isinstance(value, dict):
            raise argparse.ArgumentTypeError("size is 'small' or a JSON object of counts")
        return {str(k): int(v) for k, v in value.items()}
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="exact_online_sandbox",
                                     description="Exact Online REST API emulator on loopback")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the sandbox over HTTP")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    serve.add_argument("--seed", type=int, default=42)
    serve.add_argument("--data-dir", default=None,
                       help="keep state in DIR/sandbox.sqlite3 (default: in memory)")
    serve.add_argument("--scale", type=float, default=1.0,
                       help="sandbox seconds per real second")
    serve.add_argument("--size", type=_size, default="small",
                       help='"small" or a JSON object such as {"accounts": 100000}')
    serve.add_argument("--divisions", type=int, default=2,
                       help="reachable divisions to seed: 100001, 100002, 100004, ...")
    serve.add_argument("--port-file", default=None, help=argparse.SUPPRESS)
    serve.add_argument("--log-level", default="INFO")
    return parser


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def serve(args: argparse.Namespace) -> int:
    db_path = None
    if args.data_dir:
        os.makedirs(args.data_dir, exist_ok=True)
        db_path = os.path.join(args.data_dir, DB_FILE)
    app = SandboxApp(db_path=db_path, seed=args.seed, size=args.size, scale=args.scale,
                     divisions=args.divisions)
    server = build_server(app, args.host, args.port)
    base_url = f"http://{args.host}:{server.server_port}"
    app.webhooks.base_url = base_url
    if args.port_file:
        tmp = f"{args.port_file}.tmp"
        with open(tmp, "w") as handle:
            handle.write(str(server.server_port))
        os.replace(tmp, args.port_file)
    log.info("Exact Online sandbox listening on %s (data: %s)", base_url,
             args.data_dir or "in memory")
    signal.signal(signal.SIGTERM, _terminate)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        log.info("stopping")
    finally:
        server.server_close()
        app.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(list(argv) if argv is not None else None)
    logging.basicConfig(level=getattr(logging, str(args.log_level).upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    if args.command == "serve":
        return serve(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())

"""The ``sightline`` command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sightline import __version__
from sightline.errors import ConfigError, SightlineError

if TYPE_CHECKING:
    from sightline.node import Node

__all__ = ["main"]

log = logging.getLogger("sightline")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sightline", description="GB/T 28181 exchange platform")
    parser.add_argument("--version", action="version", version=f"sightline {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run SIP, HTTP and media in one process")
    serve.add_argument("--config", type=Path, help="YAML configuration file")
    config = sub.add_parser("config", help="configuration helpers")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    config_sub.add_parser("example", help="print a commented configuration with every default")
    check = config_sub.add_parser("check", help="validate a configuration and print the result")
    check.add_argument("--config", type=Path)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            return _serve(args.config)
        if args.command == "config":
            return _config(args)
    except ConfigError as exc:
        print(f"sightline: {exc}", file=sys.stderr)
        return 2
    except SightlineError as exc:
        print(f"sightline: {exc}", file=sys.stderr)
        return 1
    return 0


def _config(args: argparse.Namespace) -> int:
    from sightline.config import load_settings
    from sightline.config_example import render_example

    if args.config_command == "example":
        sys.stdout.write(render_example())
        return 0
    settings = load_settings(args.config)
    print(settings.model_dump_json(indent=2))
    return 0


def _serve(config_file: Path | None) -> int:
    from sightline.config import load_settings
    from sightline.logs import setup_logging
    from sightline.node import Node

    settings = load_settings(config_file)
    setup_logging(settings.log.level, settings.log.json_output)
    node = Node(settings)

    async def run() -> int:
        try:
            listening = await node.start()
        except OSError as exc:
            await node.stop()
            print(
                f"sightline: cannot start: {exc} (is another process using the port?)",
                file=sys.stderr,
            )
            return 1
        _announce(node, listening.lines())
        await node.run_until_signalled()
        return 0

    return _run_loop(run())


def _announce(node: Node, lines: list[str]) -> None:
    print("sightline is listening:", flush=True)
    for line in lines:
        print(f"  {line}", flush=True)
    assert node.secrets is not None
    if node.secrets.created:
        if node.settings.sip.device_password is None:
            print(f"  generated device password: {node.device_password}", flush=True)
        if node.settings.admin.password is None:
            print(f"  generated admin login: admin / {node.admin_password}", flush=True)
        print(f"  (kept in {node.settings.data_dir / 'secrets.json'})", flush=True)


def _run_loop(coro: Coroutine[Any, Any, int]) -> int:
    try:
        import uvloop
    except ImportError:  # uvloop is optional off Linux
        return asyncio.run(coro)
    return uvloop.run(coro)


if __name__ == "__main__":
    raise SystemExit(main())

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
from sightline.cli import access as access_cli
from sightline.cli import audit as audit_cli
from sightline.cli import sim as sim_cli
from sightline.errors import ConfigError, SightlineError

if TYPE_CHECKING:
    from sightline.node import Node
    from sightline.sim.host import SimHost

__all__ = ["main"]

log = logging.getLogger("sightline")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sightline", description="GB/T 28181 exchange platform")
    parser.add_argument("--version", action="version", version=f"sightline {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run SIP, HTTP and media in one process")
    serve.add_argument("--config", type=Path, help="YAML configuration file")
    demo = sub.add_parser(
        "demo", help="serve plus a simulator with a few devices (4 IPCs and an 8-channel NVR)"
    )
    demo.add_argument("--config", type=Path, help="YAML configuration file")
    demo.add_argument("--ipcs", type=int, default=4, help="simulated IPCs")
    demo.add_argument("--nvr-channels", type=int, default=8, help="channels of the simulated NVR")
    demo.add_argument(
        "--audio",
        choices=["none", "g711a", "g711u"],
        default="none",
        help="G.711 audio (a tone) in the simulated devices' streams",
    )
    access_cli.add_demo_arguments(demo)
    sim_cli.add_parser(sub)
    audit_cli.add_parser(sub)
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
        if args.command == "demo":
            demo = (args.ipcs, args.nvr_channels, args.audio)
            return _serve(args.config, demo=demo, https=args.https)
        if args.command == "sim":
            return sim_cli.run(args)
        if args.command == "audit":
            return audit_cli.run(args)
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


def _serve(
    config_file: Path | None, demo: tuple[int, int, str] | None = None, https: bool = False
) -> int:
    from sightline.config import load_settings
    from sightline.logs import setup_logging
    from sightline.node import Node

    settings = load_settings(config_file)
    if https:
        settings = access_cli.with_demo_tls(settings)
    setup_logging(settings.log.level, settings.log.json_output)
    node = Node(settings)

    async def run() -> int:
        node.catch_signals()  # a SIGTERM from here on stops cleanly, even during start-up
        try:
            listening = await node.start()
        except OSError as exc:
            await node.stop()
            print(
                f"sightline: cannot start: {exc} (is another process using the port?)",
                file=sys.stderr,
            )
            return 1
        _announce(node, listening.lines(), demo=demo is not None)
        if demo is None:
            await node.run_until_signalled()
            return 0
        simulator = await _start_demo_devices(node, *demo)
        # the simulated devices unregister first, while the server still answers them
        await node.run_until_signalled(before_stop=simulator.stop)
        return 0

    return _run_loop(run())


def _announce(node: Node, lines: list[str], *, demo: bool) -> None:
    print("sightline is listening:", flush=True)
    for line in lines:
        print(f"  {line}", flush=True)
    assert node.secrets is not None
    generated = node.settings.admin.password is None
    if node.secrets.created and node.settings.sip.device_password is None:
        print(f"  generated device password: {node.device_password}", flush=True)
    if generated and (node.admin_created or demo):
        print(f"  admin login: admin / {node.admin_password}", flush=True)
    if node.secrets.created:
        print(
            f"  (generated secrets kept in {node.settings.data_dir / 'secrets.json'})", flush=True
        )


async def _start_demo_devices(
    node: Node, ipcs: int, nvr_channels: int, audio: str = "none"
) -> SimHost:
    from sightline.sim.audio import SimAudio
    from sightline.sim.config import DeviceGroup, SimConfig
    from sightline.sim.host import run_simulator

    host, port = node.listening.sip["UDP"]
    groups = [DeviceGroup(count=ipcs)] if ipcs else []
    if nvr_channels:
        groups.append(DeviceGroup(count=1, channels=nvr_channels))
    simulator = await run_simulator(
        SimConfig(
            server_host="127.0.0.1" if host in ("0.0.0.0", "::") else host,
            server_port=port,
            server_id=node.settings.sip.id,
            domain=node.settings.sip.domain,
            password=node.device_password,
            groups=tuple(groups),
            local_host="127.0.0.1",
            audio=SimAudio(audio),
        )
    )
    count = ipcs + (1 if nvr_channels else 0)
    print(f"  demo: {count} simulated devices registering ({ipcs} IPCs", end="", flush=True)
    print(f", 1 NVR with {nvr_channels} channels)" if nvr_channels else ")", flush=True)
    return simulator


def _run_loop(coro: Coroutine[Any, Any, int]) -> int:
    try:
        import uvloop
    except ImportError:  # uvloop is optional off Linux
        return asyncio.run(coro)
    return uvloop.run(coro)


if __name__ == "__main__":
    raise SystemExit(main())

"""``sightline sim`` against the loopback platform."""

from __future__ import annotations

import argparse
import asyncio
import sys

import pytest

from sightline.cli.sim import add_parser, config_from_args, run_async
from sightline.sim import Transport
from tests.sim.platform import PASSWORD, SERVER_ID, LoopbackPlatform


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="sightline")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["sim", *argv])


def test_arguments_become_a_config() -> None:
    args = _parse(
        [
            "--server",
            "[::1]:5061",
            "--server-id",
            "34020000002000000001",
            "--devices",
            "7",
            "--channels",
            "4",
            "--transport",
            "tcp",
            "--gb-version",
            "2022",
            "--id-prefix",
            "11010500",
        ]
    )
    config = config_from_args(args)
    assert (config.server_host, config.server_port) == ("::1", 5061)
    assert (config.device_count, config.channel_count) == (7, 28)
    assert config.transport is Transport.TCP and config.x_gb_ver == "3.0"
    assert config.realm == "3402000000"


async def test_bad_server_address_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    args = _parse(["--server", "localhost", "--server-id", SERVER_ID])
    assert await run_async(args) == 2
    assert "HOST:PORT" in capsys.readouterr().err


async def test_runs_registers_prints_and_unregisters(
    platform: LoopbackPlatform, capsys: pytest.CaptureFixture[str]
) -> None:
    server = f"127.0.0.1:{platform.udp.port}"
    args = _parse(
        f"--server {server} --server-id {SERVER_ID} --password {PASSWORD} --devices 3"
        " --local-host 127.0.0.1 --duration 1.5 --keepalive-s 0.5".split()
    )
    assert await run_async(args) == 0
    out = capsys.readouterr().out
    assert "simulating 3 devices (3 channels)" in out
    assert "registered 3/3" in out
    assert "stopped; 0 devices still registered" in out
    assert platform.registrar.bindings == {}
    assert platform.endpoint.stats.auth_successes >= 6  # 3 registrations + 3 unregistrations


async def _sim_stderr(platform: LoopbackPlatform, *extra: str) -> str:
    code = "import sys; from sightline.cli.main import main; sys.exit(main(sys.argv[1:]))"
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-c", code, "sim", "--server", f"127.0.0.1:{platform.udp.port}"),
        *("--server-id", SERVER_ID, "--password", "not-the-password", "--devices", "1"),
        *("--local-host", "127.0.0.1", "--duration", "1.5", "--retry-s", "30", *extra),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err
    return err.decode()


async def test_log_level_info_shows_why_devices_fail(platform: LoopbackPlatform) -> None:
    # a wrong password: the platform answers 403 and the device logs why it is not registered
    err = await _sim_stderr(platform, "--log-level", "INFO")
    assert "INFO" in err and "registration failed" in err
    # the default (WARNING) keeps such routine events quiet
    assert "registration failed" not in await _sim_stderr(platform)

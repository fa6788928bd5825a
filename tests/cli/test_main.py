"""The ``sightline`` command as a user runs it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from sightline.cli.main import main
from tests.e2e.server import free_port, start_sightline


def test_config_example_prints_the_shipped_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "example"]) == 0
    shipped = (Path(__file__).resolve().parents[2] / "config.example.yaml").read_text()
    assert capsys.readouterr().out == shipped


def test_bad_setting_exits_2_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SIGHTLINE_SIP__PORT", "http")
    assert main(["config", "check"]) == 2
    assert "SIGHTLINE_SIP__PORT" in capsys.readouterr().err


def test_serve_answers_health_and_stops_on_sigint(tmp_path: Path) -> None:
    server = start_sightline(tmp_path)
    try:
        assert httpx.get(f"{server.http_url}/healthz", timeout=5).json() == {"status": "ok"}
        listening = "".join(server.stdout_lines)
        assert f"SIP UDP 127.0.0.1:{server.sip_port}" in listening
        assert f"SIP TCP 127.0.0.1:{server.sip_port}" in listening
        assert "admin login: admin / " in listening
        assert (tmp_path / "sightline.db").exists()  # migrated at start
        server.process.send_signal(signal.SIGINT)
        assert server.process.wait(10) == 0
    finally:
        server.stop()
    assert server.log_problems() == []
    assert (tmp_path / "secrets.json").exists()


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("SIGHTLINE_")}
        env.update(
            SIGHTLINE_DATA_DIR=str(tmp_path),
            SIGHTLINE_SIP__HOST="127.0.0.1",
            SIGHTLINE_SIP__PORT=str(port),
            SIGHTLINE_HTTP__PORT=str(free_port(socket.SOCK_STREAM)),
            SIGHTLINE_MEDIA__RTSP_PORT=str(free_port(socket.SOCK_STREAM)),
        )
        done = subprocess.run(
            [sys.executable, "-m", "sightline.cli.main", "serve"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 1
    assert "cannot start" in done.stderr
    assert "Traceback" not in done.stderr


def test_demo_brings_up_devices_visible_through_the_api(tmp_path: Path) -> None:
    server = start_sightline(tmp_path, command=("demo",))
    try:
        deadline = time.monotonic() + 20
        while "simulated devices" not in "".join(server.stdout_lines):
            assert time.monotonic() < deadline, server.stdout_lines
            time.sleep(0.05)
        out = "".join(server.stdout_lines)
        assert "5 simulated devices registering (4 IPCs, 1 NVR with 8 channels)" in out
        password = out.split("admin login: admin / ", 1)[1].split()[0]
        login = httpx.post(
            f"{server.http_url}/api/v1/auth/login",
            json={"username": "admin", "password": password},
            timeout=10,
        )
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        devices: dict[str, int] = {}
        channels: dict[str, int] = {}
        while time.monotonic() < deadline + 20:
            devices = httpx.get(
                f"{server.http_url}/api/v1/devices?online=true", headers=headers, timeout=10
            ).json()
            channels = httpx.get(
                f"{server.http_url}/api/v1/channels", headers=headers, timeout=10
            ).json()
            if devices["total"] == 5 and channels["total"] == 12:
                break
            time.sleep(0.3)
        assert devices["total"] == 5, devices
        assert channels["total"] == 12  # 4 IPC channels + 8 NVR channels
    finally:
        assert server.stop() == 0
    assert server.log_problems() == []


def test_demo_serves_https_unless_told_otherwise() -> None:
    from sightline.cli.main import _parser

    assert _parser().parse_args(["demo"]).https is True
    assert _parser().parse_args(["demo", "--no-https"]).https is False

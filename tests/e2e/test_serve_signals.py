"""SIGTERM at any moment after ``serve`` began starting ends in a clean stop (exit 0)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.server import free_port, start_sightline

pytestmark = pytest.mark.e2e


def test_sigterm_right_after_the_announcement_stops_cleanly(tmp_path: Path) -> None:
    for attempt in range(3):
        data = tmp_path / f"run{attempt}"
        data.mkdir()
        server = start_sightline(data)
        assert server.stop() == 0  # no grace: the signal comes as soon as it says it listens
        assert "signal received, shutting down" in server.log()
        assert server.log_problems() == []


def test_sigterm_during_start_up_stops_cleanly(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGHTLINE_")}
    env |= {
        "SIGHTLINE_DATA_DIR": str(tmp_path),
        "SIGHTLINE_SIP__HOST": "127.0.0.1",
        "SIGHTLINE_SIP__PORT": str(free_port()),
        "SIGHTLINE_HTTP__HOST": "127.0.0.1",
        "SIGHTLINE_HTTP__PORT": str(free_port(socket.SOCK_STREAM)),
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "sightline.cli.main", "serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert process.stderr is not None
    log: list[str] = []
    deadline = time.monotonic() + 30
    for line in iter(process.stderr.readline, ""):
        log.append(line)
        if "Running upgrade" in line:  # the migrations of a fresh database: mid start-up
            process.send_signal(signal.SIGTERM)
            break
        assert time.monotonic() < deadline, "".join(log)
    _out, err = process.communicate(timeout=30)
    log.append(err)
    assert process.returncode == 0, "".join(log)[-3000:]
    assert "signal received, shutting down" in "".join(log)

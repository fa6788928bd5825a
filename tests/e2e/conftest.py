"""Fixtures for whole-system tests: a real ``sightline serve`` process and SIPp."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from tests.e2e.server import SightlineProcess, StartServer, start_sightline
from tests.e2e.sipp import find_sipp


@pytest.fixture
def sipp_binary() -> str:
    """Path of SIPp; skips the test when it is not installed."""
    path = find_sipp()
    if path is None:
        pytest.skip("sipp is not installed (Debian/Ubuntu: apt-get install sip-tester)")
    return path


@pytest.fixture
def sightline_server(tmp_path: Path) -> Iterator[StartServer]:
    """Factory: ``sightline_server(env={...})`` starts ``sightline serve`` on free ports.

    Teardown stops every started server with SIGTERM and checks it exited 0 and logged no
    escaped exception.
    """
    started: list[SightlineProcess] = []

    def start(
        *, password: str = "e2e-device-password", env: Mapping[str, str] | None = None
    ) -> SightlineProcess:
        data_dir = tmp_path / f"sightline-{len(started)}"
        data_dir.mkdir()
        server = start_sightline(data_dir, password=password, env=env)
        started.append(server)
        return server

    yield start
    failures = []
    for server in started:
        code = server.stop()
        if code != 0:
            failures.append(f"sightline exited {code}:\n{server.log()[-3000:]}")
        problems = server.log_problems()
        if problems:
            failures.append("sightline logged exceptions:\n" + "\n".join(problems[:20]))
            failures.append(server.log()[-5000:])
    assert not failures, "\n".join(failures)

"""Start ``sightline serve`` as a child on free loopback ports, for e2e tests and benchmarks.

The process is configured only through ``SIGHTLINE_*`` environment variables, so what runs is
exactly what an operator gets from the console script.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

__all__ = [
    "LOG_PROBLEMS",
    "ServerError",
    "SightlineProcess",
    "StartServer",
    "free_port",
    "parse_prometheus",
    "start_sightline",
]

# Lines that mean an exception escaped a handler somewhere in the process.
LOG_PROBLEMS = re.compile(r"Traceback|Unhandled|Exception in callback|Task exception was never")

_READY = "sightline is listening:"


class ServerError(RuntimeError):
    """The server did not start, did not stop, or stopped badly."""


def free_port(kind: int = socket.SOCK_DGRAM, also: int | None = None) -> int:
    """A loopback port free for ``kind`` (and for ``also``, e.g. UDP and TCP together)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if also is None or _free(port, also):
            return port
    raise ServerError("no free loopback port found")


def _free(port: int, kind: int) -> bool:
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass
class SightlineProcess:
    """A running ``sightline serve``."""

    process: subprocess.Popen[str]
    sip_port: int
    http_port: int
    password: str
    data_dir: Path
    domain: str
    stdout_lines: list[str] = field(default_factory=list)
    _stderr: list[str] = field(default_factory=list)
    _readers: list[threading.Thread] = field(default_factory=list)

    @property
    def pid(self) -> int:
        """Process ID (for CPU accounting and profilers)."""
        return self.process.pid

    @property
    def sip_target(self) -> tuple[str, int]:
        """Where SIP peers send to."""
        return ("127.0.0.1", self.sip_port)

    @property
    def http_url(self) -> str:
        """Base URL of the HTTP API."""
        return f"http://127.0.0.1:{self.http_port}"

    def log(self) -> str:
        """Everything the process wrote to stderr (its log) so far."""
        return "".join(self._stderr)

    def log_problems(self) -> list[str]:
        """Log lines that show an exception escaped a handler."""
        return [line for line in self.log().splitlines() if LOG_PROBLEMS.search(line)]

    def metrics(self) -> dict[str, float]:
        """``/metrics`` parsed to ``{'name{labels}': value}`` (no comments)."""
        response = httpx.get(f"{self.http_url}/metrics", timeout=5.0)
        response.raise_for_status()
        return parse_prometheus(response.text)

    def stop(self, timeout_s: float = 10.0) -> int:
        """SIGTERM, wait, and return the exit code; kills it if it does not stop in time."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5.0)
                raise ServerError(
                    f"sightline did not stop within {timeout_s:g}s of SIGTERM\n{self.log()[-3000:]}"
                ) from None
        for reader in self._readers:
            reader.join(5.0)
        for pipe in (self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()
        return int(self.process.returncode)


# What the ``sightline_server`` fixture yields: call it (with ``password=``, ``env=``) to start one.
StartServer = Callable[..., SightlineProcess]


def parse_prometheus(text: str) -> dict[str, float]:
    """Samples of a Prometheus text exposition, keyed by name with labels as written."""
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        samples[name] = float(value)
    return samples


def start_sightline(
    data_dir: Path,
    *,
    password: str = "e2e-device-password",
    env: Mapping[str, str] | None = None,
    startup_timeout_s: float = 30.0,
    command: tuple[str, ...] = ("serve",),
) -> SightlineProcess:
    """Start ``sightline serve`` (or ``command``) and return once it says it is listening."""
    if command[:1] == ("demo",) and not {"--https", "--no-https"} & set(command):
        # the demo serves HTTPS with a self-signed certificate; tests speak HTTP unless they ask
        command = (*command, "--no-https")
    sip_port = free_port(socket.SOCK_DGRAM, also=socket.SOCK_STREAM)
    http_port = free_port(socket.SOCK_STREAM)
    settings = {
        "SIGHTLINE_DATA_DIR": str(data_dir),
        "SIGHTLINE_SIP__HOST": "127.0.0.1",
        "SIGHTLINE_SIP__PORT": str(sip_port),
        "SIGHTLINE_HTTP__HOST": "127.0.0.1",
        "SIGHTLINE_HTTP__PORT": str(http_port),
        "SIGHTLINE_MEDIA__RTSP_PORT": str(free_port(socket.SOCK_STREAM)),
        "SIGHTLINE_SIP__DEVICE_PASSWORD": password,
        **(env or {}),
    }
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("SIGHTLINE_")}
    child_env.update(settings)
    child_env["PYTHONUNBUFFERED"] = "1"
    process = subprocess.Popen(
        [sys.executable, "-m", "sightline.cli.main", *command],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        env=child_env,
        cwd=data_dir,
    )
    server = SightlineProcess(
        process,
        sip_port,
        http_port,
        password,
        data_dir,
        domain=settings.get("SIGHTLINE_SIP__DOMAIN", "3402000000"),
    )
    ready = threading.Event()
    server._readers = [
        _drain(process.stdout, server.stdout_lines, ready),
        _drain(process.stderr, server._stderr, None),
    ]
    deadline = time.monotonic() + startup_timeout_s
    while not ready.wait(0.05):
        if process.poll() is not None or time.monotonic() > deadline:
            with contextlib.suppress(ServerError):
                server.stop(2.0)
            raise ServerError(
                f"sightline serve did not become ready (exit {process.returncode}):\n"
                f"{''.join(server.stdout_lines)}\n{server.log()[-4000:]}"
            )
    return server


def _drain(
    stream: IO[str] | None, sink: list[str], ready: threading.Event | None
) -> threading.Thread:
    """Read a pipe to the end in a thread, so the child never blocks on a full pipe."""
    assert stream is not None

    def run() -> None:
        for line in iter(stream.readline, ""):
            sink.append(line)
            if ready is not None and _READY in line:
                ready.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread

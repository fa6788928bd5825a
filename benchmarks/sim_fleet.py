"""``sightline sim`` children for the benchmarks: start, follow their progress lines, stop
(SIGTERM unregisters, SIGKILL is a power cut), and their CPU."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.procs import cpu_s

# The storm restarts every simulator: let them cache bytecode (outside the tree) even where
# PYTHONDONTWRITEBYTECODE is set, or each restart compiles every module again, CPU taken from
# the server on the same cores (13 % of a restarted simulator's samples in its first seconds).
PYCACHE = Path(tempfile.gettempdir()) / "sightline-devices-online-pycache"
_PROGRESS = re.compile(r"registered (\d+)/(\d+) \(failures (\d+), retransmissions (\d+)\)")


@dataclass
class Simulator:
    """One ``sightline sim`` child and the progress it prints."""

    args: list[str]
    devices: int
    process: subprocess.Popen[str] | None = None
    lines: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None

    def start(self) -> None:
        """Start (or restart) the child."""
        self.lines = []
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sightline.cli.main", "sim", *self.args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        self.reader = threading.Thread(target=self._drain, args=(self.process,), daemon=True)
        self.reader.start()

    def _drain(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in iter(process.stdout.readline, ""):
            self.lines.append(line)

    def progress(self) -> tuple[int, int, int]:
        """(registered, failures, retransmissions) from the last progress line."""
        for line in reversed(self.lines):
            match = _PROGRESS.search(line)
            if match:
                return int(match[1]), int(match[3]), int(match[4])
        return 0, 0, 0

    @property
    def pid(self) -> int:
        """Process ID."""
        assert self.process is not None
        return self.process.pid

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 60.0) -> None:
        """Send ``sig`` and wait (SIGTERM unregisters first; SIGKILL is a power cut)."""
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        if self.reader is not None:
            self.reader.join(5)
        if process.stdout is not None:
            process.stdout.close()


def sims_cpu_s(sims: list[Simulator]) -> float:
    """CPU seconds of the running simulators (they share the machine with the server)."""
    return sum(cpu_s(s.pid) for s in sims if s.process and s.process.poll() is None)


@contextlib.contextmanager
def fleet(sims: list[Simulator]) -> Iterator[list[Simulator]]:
    """Start every simulator; SIGTERM them all at the end."""
    try:
        for sim in sims:
            sim.start()
        yield sims
    finally:
        for sim in sims:
            with contextlib.suppress(Exception):
                sim.stop()

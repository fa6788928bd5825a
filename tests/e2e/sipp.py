"""Run SIPp (the outside SIP peer) with a scenario and an injection file, and read its results.

SIPp writes its verdicts to files: ``-trace_stat`` a ``;``-separated CSV whose last row is
the final cumulative state, ``-trace_err`` the unexpected messages and aborted calls, and
``-trace_msg`` every message sent and received. Its exit code is 0 when every call succeeded,
1 when at least one failed, 97/99 on an early or call-less exit and 255/254 (-1/-2) on a fatal
error such as a socket that cannot be bound.
"""

from __future__ import annotations

import csv
import re
import resource
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "SCENARIOS",
    "SippError",
    "SippResult",
    "find_sipp",
    "received_messages",
    "run_sipp",
    "write_injection",
]

SCENARIOS = Path(__file__).parent / "scenarios"

# "2026-11-25\t14:29:23.406145\t1795616963.406145": date, time, then seconds since the epoch.
_EPOCH = re.compile(r"(\d+\.\d+)\s*$")
_MESSAGE_SPLIT = re.compile(r"^-{10,} [\d\-: .]+$", re.MULTILINE)


class SippError(RuntimeError):
    """SIPp could not run (missing binary, hung past its deadline, no statistics)."""


@dataclass(frozen=True)
class SippResult:
    """What one SIPp run reported."""

    exit_code: int
    stats: dict[str, str]
    errors: str
    messages: str
    stdout: str
    workdir: Path
    repartition_ms: dict[str, int] = field(default_factory=dict)

    @property
    def successful(self) -> int:
        """Calls that reached the end of the scenario."""
        return self._int("SuccessfulCall(C)")

    @property
    def failed(self) -> int:
        """Calls that were aborted (timeout, unexpected message, failed check)."""
        return self._int("FailedCall(C)")

    @property
    def retransmissions(self) -> int:
        """UDP retransmissions SIPp had to send: each one is a request answered late or lost."""
        return self._int("Retransmissions(C)")

    @property
    def elapsed_s(self) -> float:
        """Seconds from SIPp's start to its last statistics dump (its end)."""
        return _epoch(self.stats["CurrentTime"]) - _epoch(self.stats["StartTime"])

    @property
    def calls_per_s(self) -> float:
        """Successful calls per second over the whole run."""
        return self.successful / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def percentile_ms(self, fraction: float) -> str:
        """Upper bound of the response-time bucket holding that fraction of calls ("<5")."""
        total = sum(self.repartition_ms.values())
        seen = 0
        for bucket, count in self.repartition_ms.items():
            seen += count
            if total and seen >= fraction * total:
                return bucket
        return "n/a"

    def describe(self) -> str:
        """A short summary for assertion messages."""
        return (
            f"sipp exit {self.exit_code}: {self.successful} ok, {self.failed} failed, "
            f"{self.retransmissions} retransmissions\n--- errors ---\n{self.errors[-3000:]}"
        )

    def _int(self, name: str) -> int:
        return int(self.stats.get(name) or 0)


def find_sipp() -> str | None:
    """Path of the ``sipp`` binary, or None when it is not installed."""
    return shutil.which("sipp")


def write_injection(
    path: Path, device_ids: Iterable[str], password: str, domain: str = "3402000000"
) -> Path:
    """Write a SIPp injection CSV: device ID; authentication keyword; SIP domain."""
    lines = ["SEQUENTIAL"]
    for device_id in device_ids:
        auth = f"[authentication username={device_id} password={password}]"
        lines.append(f"{device_id};{auth};{domain};")
    path.write_text("\n".join(lines) + "\n", encoding="ascii")
    return path


def run_sipp(
    scenario: str | Path,
    target: tuple[str, int],
    *,
    injection: Path,
    workdir: Path,
    calls: int,
    transport: str = "u1",
    rate: float = 100.0,
    limit: int | None = None,
    service: str = "34020000002000000001",
    timeout_s: float = 30.0,
    recv_timeout_ms: int = 5000,
    trace_messages: bool = False,
    extra_args: Sequence[str] = (),
) -> SippResult:
    """Run ``calls`` calls of a scenario against ``target`` and return SIPp's verdict.

    ``scenario`` is a file name under :data:`SCENARIOS` or a path. ``transport`` is SIPp's
    ``-t`` value (``u1`` one UDP socket, ``un`` one per call, ``t1``/``tn`` the same for TCP).
    """
    sipp = find_sipp()
    if sipp is None:
        raise SippError("sipp is not installed")
    scenario_path = Path(scenario) if Path(scenario).is_absolute() else SCENARIOS / scenario
    workdir.mkdir(parents=True, exist_ok=True)
    stat_file = workdir / "stat.csv"
    error_file = workdir / "errors.log"
    message_file = workdir / "messages.log"
    for stale in (stat_file, error_file, message_file):
        stale.unlink(missing_ok=True)
    args = [
        sipp,
        f"{target[0]}:{target[1]}",
        "-sf",
        str(scenario_path),
        "-inf",
        str(injection),
        "-s",
        service,
        "-t",
        transport,
        "-i",
        target[0],
        "-p",
        "0",
        "-m",
        str(calls),
        "-r",
        f"{rate:g}",
        "-recv_timeout",
        str(recv_timeout_ms),
        "-timeout",
        f"{timeout_s:g}",
        "-timeout_error",
        "-nostdin",
        "-trace_stat",
        "-stf",
        str(stat_file),
        "-fd",
        "1",
        "-trace_err",
        "-error_file",
        str(error_file),
    ]
    if transport.endswith("n"):
        # SIPp refuses to start when its socket cap (50,000) exceeds the open-file limit.
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        args += ["-max_socket", str(max(16, min(10_000, soft - 64)))]
    if limit is not None:
        args += ["-l", str(limit)]
    if trace_messages:
        args += ["-trace_msg", "-message_file", str(message_file)]
    args += list(extra_args)
    try:
        done = subprocess.run(
            args,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout_s + 15,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise SippError(f"sipp did not exit within {timeout_s + 15:g}s: {args}") from exc
    if not stat_file.exists():
        raise SippError(f"sipp exited {done.returncode} without statistics:\n{done.stdout[-2000:]}")
    stats = _last_row(stat_file)
    return SippResult(
        exit_code=done.returncode,
        stats=stats,
        errors=_read(error_file),
        messages=_read(message_file),
        stdout=done.stdout + done.stderr,
        workdir=workdir,
        repartition_ms=_repartition(stats),
    )


def received_messages(result: SippResult, first_line_prefix: str) -> list[str]:
    """The messages SIPp received whose first line starts with the prefix ("SIP/2.0 200")."""
    found = []
    for chunk in _MESSAGE_SPLIT.split(result.messages):
        header, _, message = chunk.strip("\n").partition("\n")
        if "message received" not in header:
            continue
        message = message.lstrip("\r\n")
        if message.startswith(first_line_prefix):
            found.append(message.replace("\r\n", "\n"))
    return found


def _last_row(path: Path) -> dict[str, str]:
    with path.open(newline="", encoding="utf-8", errors="replace") as f:
        rows = [row for row in csv.reader(f, delimiter=";") if row]
    if len(rows) < 2:
        raise SippError(f"{path} has no statistics rows")
    return dict(zip(rows[0], rows[-1], strict=False))


def _repartition(stats: dict[str, str]) -> dict[str, int]:
    prefix = "ResponseTimeRepartition1_"
    return {k[len(prefix) :]: int(v) for k, v in stats.items() if k.startswith(prefix) and v}


def _epoch(stamp: str) -> float:
    match = _EPOCH.search(stamp)
    if match is None:
        raise SippError(f"unexpected SIPp timestamp {stamp!r}")
    return float(match.group(1))


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

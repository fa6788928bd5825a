"""Authenticated REGISTER throughput of ``sightline serve`` against Kamailio, both driven by SIPp.

Each SIPp call is one device registering: REGISTER → 401 → REGISTER with digest → 200, so a
call is two requests and one successful authentication. Per target the benchmark runs:

1. a warm-up;
2. a closed-loop run: every one of ``--users`` distinct devices registers once, SIPp offering
   far more than the server can take but keeping at most ``--concurrency`` calls open, so the
   server sets the pace (its maximum rate);
3. an open-loop step test: fixed offered rates for ``--step-seconds`` each (default 40 s, longer
   than Timer J, so the server holds a steady-state load of completed transactions), rising until
   a step has a failed call, a retransmission rate above 0.1 % or achieves under 95 % of the
   offered rate. The highest clean step is the sustainable rate.

By default every device has its own source port (SIPp ``-t un``), as real devices do, and
sightline runs with two REGISTER worker processes (``sip.register_workers``; the kernel spreads
devices over the processes by address, so with ``-t u1`` one process would get everything);
``--transport u1 --sightline-workers 0`` measures the single-process setup of earlier runs.

Run with ``make bench`` or ``.venv/bin/python benchmarks/sip_register.py --help``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make the tests package importable
    sys.path.insert(0, str(ROOT))

from tests.e2e.server import free_port, start_sightline  # noqa: E402
from tests.e2e.sipp import SippResult, find_sipp, run_sipp, write_injection  # noqa: E402

from benchmarks import exit_cleanly_on_sigterm  # noqa: E402

KAMAILIO_CFG = ROOT / "benchmarks" / "kamailio" / "kamailio.cfg"
PASSWORD = "bench-device-password"
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Run:
    """One SIPp run against one target."""

    target: str
    kind: str
    offered: str
    sipp: SippResult
    server_cpu_s: float
    sipp_cpu_s: float

    @property
    def wall_s(self) -> float:
        """Duration SIPp measured."""
        return self.sipp.elapsed_s

    @property
    def retrans_share(self) -> float:
        """Retransmissions per request sent (two requests per call)."""
        sent = 2 * (self.sipp.successful + self.sipp.failed)
        return self.sipp.retransmissions / sent if sent else 0.0

    @property
    def cpu_us_per_registration(self) -> float:
        """Server CPU time per successful registration: robust to a busy machine."""
        return 1e6 * self.server_cpu_s / self.sipp.successful if self.sipp.successful else 0.0

    def row(self) -> list[str]:
        """Cells of the results table."""
        wall = self.wall_s or 1.0
        return [
            self.target,
            self.kind,
            self.offered,
            str(self.sipp.successful),
            f"{self.sipp.calls_per_s:,.0f}",
            str(self.sipp.failed),
            str(self.sipp.retransmissions),
            f"{100 * self.server_cpu_s / wall:.0f} %",
            f"{self.cpu_us_per_registration:,.0f}",
            f"{100 * self.sipp_cpu_s / wall:.0f} %",
            f"{self.sipp.percentile_ms(0.5)} / {self.sipp.percentile_ms(0.95)}",
        ]


HEADER = [
    "target",
    "run",
    "offered/s",
    "registered",
    "auth. REGISTER/s",
    "failed",
    "retrans",
    "server CPU",
    "server CPU µs/reg.",
    "SIPp CPU",
    "p50 / p95 ms",
]


@dataclass
class Target:
    """A SIP server under test."""

    name: str
    port: int
    pid: int
    stop: Callable[[], None]


def process_tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and all its descendants (Kamailio forks workers)."""
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            parents[int(entry.name)] = int(fields[1])
            ticks[int(entry.name)] = int(fields[11]) + int(fields[12])
    tree = {pid}
    grew = True
    while grew:
        grew = False
        for child, parent in parents.items():
            if parent in tree and child not in tree:
                tree.add(child)
                grew = True
    return sum(ticks.get(p, 0) for p in tree) / CLK_TCK


def children_cpu_s() -> float:
    """CPU seconds of reaped children of this process (SIPp runs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wait_for_sip(port: int, timeout_s: float = 20.0) -> None:
    """Send OPTIONS until something answers on 127.0.0.1:port over UDP."""
    probe = (
        f"OPTIONS sip:probe@127.0.0.1:{port} SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:9;rport;branch=z9hG4bKbenchprobe\r\n"
        "From: <sip:probe@127.0.0.1>;tag=probe\r\nTo: <sip:probe@127.0.0.1>\r\n"
        "Call-ID: bench-probe\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
    deadline = time.monotonic() + timeout_s
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(0.2)
        while time.monotonic() < deadline:
            s.sendto(probe.encode(), ("127.0.0.1", port))
            with contextlib.suppress(TimeoutError):
                if s.recv(65535).startswith(b"SIP/2.0"):
                    return
    raise RuntimeError(f"nothing answered SIP OPTIONS on 127.0.0.1:{port}")


@contextlib.contextmanager
def sightline(workdir: Path, workers: int = 0) -> Iterator[Target]:
    """``sightline serve`` with the flood limits out of the way (one source sends everything).

    ``workers``: ``sip.register_workers``, REGISTER worker processes beside the main one.
    """
    data_dir = workdir / "sightline"
    data_dir.mkdir()
    server = start_sightline(
        data_dir,
        password=PASSWORD,
        env={
            "SIGHTLINE_LOG__LEVEL": "WARNING",
            "SIGHTLINE_SIP__RATE_PER_SOURCE": "1000000",
            "SIGHTLINE_SIP__RATE_BURST": "1000000",
            "SIGHTLINE_SIP__BAN_AFTER_FAILURES": "1000000",
            "SIGHTLINE_SIP__REGISTER_WORKERS": str(workers),
        },
    )
    try:
        wait_for_sip(server.sip_port)
        name = f"sightline ({workers} REGISTER workers)" if workers else "sightline"
        yield Target(name, server.sip_port, server.pid, lambda: None)
    finally:
        code = server.stop()
        problems = server.log_problems()
        if code != 0 or problems:
            lines = server.log().splitlines()
            # each logged traceback: the line before it (the log message) and its last line
            ends = [
                f"{lines[i - 1] if i else ''} -> {_exception_line(lines[i + 1 :])}"
                for i, line in enumerate(lines)
                if line.startswith("Traceback")
            ]
            print(
                f"WARNING: sightline exited {code}; log problems: {problems[:5]}",
                *ends[:5],
                sep="\n",
            )


def _exception_line(lines: list[str]) -> str:
    """The first unindented line: the exception that ends a traceback."""
    return next((line for line in lines if line[:1] not in (" ", "")), "")


def find_kamailio() -> str | None:
    """Kamailio's binary (Debian puts it in /usr/sbin, often not on a user's PATH)."""
    found = shutil.which("kamailio")
    if found is None and Path("/usr/sbin/kamailio").exists():
        found = "/usr/sbin/kamailio"
    return found


@contextlib.contextmanager
def kamailio(binary: str, workdir: Path, children: int) -> Iterator[Target]:
    """Kamailio in the foreground (-DD), logging to stderr (-E), on a free loopback port."""
    port = free_port(socket.SOCK_DGRAM)
    kam_dir = workdir / "kamailio"
    kam_dir.mkdir()
    log = (kam_dir / "kamailio.log").open("w")
    args = [
        binary,
        "-f",
        str(KAMAILIO_CFG),
        "-DD",
        "-E",
        "-w",
        str(kam_dir),
        "-m",
        "256",
        "-A",
        f"SIP_PORT={port}",
        "-A",
        f'SIP_PASSWORD="{PASSWORD}"',
        "-A",
        f"SIP_CHILDREN={children}",
    ]
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=kam_dir)
    try:
        wait_for_sip(port)
        yield Target(f"kamailio ({children} workers)", port, process.pid, lambda: None)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def measure(
    target: Target,
    kind: str,
    offered: str,
    injection: Path,
    *,
    calls: int,
    rate: float,
    limit: int | None,
    timeout_s: float,
    transport: str = "u1",
) -> Run:
    """Run SIPp once and account the CPU both sides spent."""
    server_before = process_tree_cpu_s(target.pid)
    sipp_before = children_cpu_s()
    result = run_sipp(
        "register.xml",
        ("127.0.0.1", target.port),
        injection=injection,
        workdir=injection.parent / "sipp",
        calls=calls,
        transport=transport,
        rate=rate,
        limit=limit,
        timeout_s=timeout_s,
        recv_timeout_ms=5000,
    )
    return Run(
        target.name,
        kind,
        offered,
        result,
        process_tree_cpu_s(target.pid) - server_before,
        children_cpu_s() - sipp_before,
    )


def bench_target(target: Target, args: argparse.Namespace, workdir: Path) -> list[Run]:
    """Warm-up, closed-loop maximum, then the step test; returns every run."""
    work = workdir / f"sipp-{target.name.split()[0]}"
    work.mkdir()
    injection = write_injection(
        work / "users.csv", (f"3402000000132{n:07d}" for n in range(args.users)), PASSWORD
    )
    runs: list[Run] = []
    transport = args.transport
    measure(
        target,
        "warm-up",
        "-",
        injection,
        calls=1000,
        rate=500,
        limit=None,
        timeout_s=30,
        transport=transport,
    )
    closed = measure(
        target,
        f"closed loop, ≤{args.concurrency} open",
        "max",
        injection,
        calls=args.users,
        rate=1_000_000,
        limit=args.concurrency,
        timeout_s=300,
        transport=transport,
    )
    runs.append(closed)
    print_runs([closed])
    for rate in args.rates:
        step = measure(
            target,
            f"step {args.step_seconds:g} s",
            str(rate),
            injection,
            calls=int(rate * args.step_seconds),
            rate=rate,
            limit=max(2 * rate, args.concurrency),
            timeout_s=args.step_seconds * 4 + 30,
            transport=transport,
        )
        runs.append(step)
        print_runs([step])
        if not sustainable(step, rate):
            break
    return runs


def sustainable(run: Run, offered: float) -> bool:
    """No failed call, ≤0.1 % retransmissions and ≥95 % of the offered rate achieved."""
    return (
        run.sipp.failed == 0
        and run.retrans_share <= 0.001
        and run.sipp.calls_per_s >= 0.95 * offered
    )


def best_sustainable(runs: list[Run]) -> float:
    """Highest offered step rate that was sustainable (0 when none)."""
    best = 0.0
    for run in runs:
        if run.kind.startswith("step") and sustainable(run, float(run.offered)):
            best = max(best, float(run.offered))
    return best


def print_runs(runs: list[Run]) -> None:
    """Print runs as markdown table rows (the header is printed once at the start)."""
    for run in runs:
        print("| " + " | ".join(run.row()) + " |", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--users", type=int, default=10_000, help="distinct device IDs")
    parser.add_argument("--concurrency", type=int, default=50, help="open calls, closed loop")
    parser.add_argument(
        "--rates",
        type=lambda s: [int(x) for x in s.split(",") if x],
        default=[250, 500, 750, 1000, 1500, 2000, 3000, 4500, 6000, 8000],
        help='comma-separated offered rates (registrations/s) for the step test ("": none)',
    )
    parser.add_argument(
        "--step-seconds",
        type=float,
        default=40.0,
        help="length of each step; longer than Timer J (32 s) so finished transactions pile up",
    )
    parser.add_argument(
        "--transport",
        choices=("u1", "un"),
        default="un",
        help="SIPp -t: un = one socket (source port) per device, as real devices have; "
        "u1 = every device on one UDP socket (then one sightline process gets everything)",
    )
    parser.add_argument(
        "--sightline-workers",
        type=int,
        default=2,
        help="sip.register_workers of the sightline server (0: one process)",
    )
    parser.add_argument("--kamailio-children", type=int, default=4)
    parser.add_argument("--no-kamailio", action="store_true", help="only measure sightline")
    parser.add_argument("--only-kamailio", action="store_true", help="only measure Kamailio")
    args = parser.parse_args(argv)
    exit_cleanly_on_sigterm()  # a killed run still stops serve, Kamailio and SIPp
    if find_sipp() is None:
        print("sipp is not installed (apt-get install sip-tester): nothing to measure")
        return 1
    print(f"machine: {os.cpu_count()} CPUs; {args.users} users; command: {' '.join(sys.argv)}")
    print("| " + " | ".join(HEADER) + " |")
    print("|" + " --- |" * len(HEADER), flush=True)
    results: dict[str, list[Run]] = {}
    with tempfile.TemporaryDirectory(prefix="sightline-bench-") as tmp:
        workdir = Path(tmp)
        if not args.only_kamailio:
            with sightline(workdir, args.sightline_workers) as target:
                results["sightline"] = bench_target(target, args, workdir)
        binary = find_kamailio()
        if binary is None:
            print("kamailio is not installed: no reference measurement")
        elif not args.no_kamailio:
            with kamailio(binary, workdir, args.kamailio_children) as target:
                results["kamailio"] = bench_target(target, args, workdir)
    summarise(results)
    return 0


def summarise(results: dict[str, list[Run]]) -> None:
    """Print max and sustainable rates per target and the sightline/Kamailio ratios."""
    print()
    summary: dict[str, tuple[float, float, float]] = {}
    for name, runs in results.items():
        closed = runs[0]
        summary[name] = (
            closed.sipp.calls_per_s,
            best_sustainable(runs),
            closed.cpu_us_per_registration,
        )
        print(
            f"{name}: max {closed.sipp.calls_per_s:,.0f} authenticated REGISTER/s (closed loop), "
            f"sustainable {summary[name][1]:,.0f}/s (step test), "
            f"{closed.cpu_us_per_registration:,.0f} µs server CPU per registration"
        )
    if "sightline" in summary and "kamailio" in summary:
        ours, theirs = summary["sightline"], summary["kamailio"]
        # CPU per registration is inverted: less CPU per registration is better.
        for label, a, b in (
            ("max rate", ours[0], theirs[0]),
            ("sustainable rate", ours[1], theirs[1]),
            ("CPU efficiency", theirs[2], ours[2]),
        ):
            ratio = f"{100 * a / b:.0f} %" if b else "n/a"
            print(f"sightline / Kamailio ({label}): {ratio}")


if __name__ == "__main__":
    raise SystemExit(main())

"""N simulated GB/T 28181 devices registered and keeping alive against one ``sightline serve``.

What a platform operator cares about with a large fleet, measured on one machine:

1. **registration**: ``--processes`` ``sightline sim`` children (distinct serial ranges, each its
   own UDP port) start registering ``--devices`` IPCs at ``--register-rate`` in total; time until
   the API counts all of them online (``GET /api/v1/devices?online=true``, the stored flag);
2. **onboarding**: after each registration the platform asks DeviceInfo and Catalog and
   subscribes; time until the API lists all N channels (capped by ``--onboard-timeout``);
3. **steady state** for ``--steady-intervals`` keepalive intervals (``--keepalive-s``, default the
   standard 60 s): the server's CPU share (user + system from ``/proc/<pid>/stat``, in % of one
   core), its RSS growth per device, and lost devices (minimum online count seen while polling,
   devices the API lists offline, REGISTERs beyond the first registration);
4. **re-registration storm**: every simulator is killed (no unregister, like a power cut) and
   started again at once with an unlimited rate, so all N devices register again from new ports
   as fast as the platform answers; time until every simulator reports all of its devices
   registered and the server counted N more successful authentications, and how many were lost.

``--profile S`` samples the server with py-spy for S seconds during the steady state and the
storm and prints the functions with the most samples. Every phase reports the server's CPU
(REGISTER worker processes included, ``--register-workers``), the simulators' CPU (they share
the machine) and the load average and CPU pressure at its end.

Run: ``.venv/bin/python benchmarks/devices_online.py --devices 10000``
(``--help`` for the options). Needs no SIPp: the simulator is sightline's own.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make the tests package importable
    sys.path.insert(0, str(ROOT))

from tests.e2e.api_client import ApiClient  # noqa: E402
from tests.e2e.server import SightlineProcess, start_sightline  # noqa: E402

from benchmarks.procs import cpu_s, load_average, profile, rss_mib, show_profile  # noqa: E402
from benchmarks.sim_fleet import Simulator, fleet, sims_cpu_s  # noqa: E402

SERVER_ID = "34020000002000000001"
PASSWORD = "bench-device-password"
ADMIN = "bench-admin-password"


def simulators(server: SightlineProcess, args: argparse.Namespace) -> list[Simulator]:
    """``--processes`` simulators splitting ``--devices`` into consecutive serial ranges."""
    k = args.processes
    share, extra = divmod(args.devices, k)
    sims = []
    serial = 1
    for i in range(k):
        count = share + (1 if i < extra else 0)
        sims.append(
            Simulator(
                [
                    "--server",
                    f"127.0.0.1:{server.sip_port}",
                    "--server-id",
                    SERVER_ID,
                    "--password",
                    PASSWORD,
                    "--devices",
                    str(count),
                    "--channels",
                    "1",
                    "--serial-start",
                    str(serial),
                    "--keepalive-s",
                    f"{args.keepalive_s:g}",
                    "--register-rate",
                    f"{args.register_rate / k:g}",
                    "--local-host",
                    "127.0.0.1",
                ],
                devices=count,
            )
        )
        serial += count
    return sims


# -- measurements ------------------------------------------------------------------------------


@dataclass
class Phase:
    """One measured phase."""

    name: str
    seconds: float
    cpu_s: float
    done: bool
    note: str = ""
    sims_cpu_s: float = 0.0
    load: str = ""

    @property
    def sims_share(self) -> float:
        """The simulators' CPU in % of one core."""
        return 100 * self.sims_cpu_s / self.seconds if self.seconds else 0.0

    @property
    def cpu_share(self) -> float:
        """Server CPU in % of one core."""
        return 100 * self.cpu_s / self.seconds if self.seconds else 0.0


@dataclass
class Bench:
    """What the phases share."""

    server: SightlineProcess
    api: ApiClient
    sims: list[Simulator]
    args: argparse.Namespace
    workdir: Path
    notes: list[str]


def online(api: ApiClient) -> int:
    """Devices the API counts online."""
    return api.page("/api/v1/devices", online=True, limit=1).total


def offline(api: ApiClient) -> int:
    """Known devices the API counts offline."""
    return api.page("/api/v1/devices", online=False, limit=1).total


def channels(api: ApiClient) -> int:
    """Channels the API lists."""
    return api.page("/api/v1/channels", limit=1).total


def metric(server: SightlineProcess, name: str) -> float:
    """One sample of ``/metrics`` (0 when absent)."""
    return server.metrics().get(name, 0.0)


def wait_phase(  # noqa: PLR0917 - the phase's name, parties, condition and timing
    name: str,
    server: SightlineProcess,
    sims: list[Simulator],
    done: Callable[[], bool],
    timeout_s: float,
    poll_s: float = 1.0,
) -> Phase:
    """Poll ``done`` until it holds or ``timeout_s``; server and simulator CPU over that time."""
    cpu0, sims0, t0 = cpu_s(server.pid), sims_cpu_s(sims), time.monotonic()
    ok = done()
    while not ok and time.monotonic() - t0 < timeout_s:
        time.sleep(poll_s)
        ok = done()
    phase = Phase(name, time.monotonic() - t0, cpu_s(server.pid) - cpu0, ok)
    phase.sims_cpu_s = sims_cpu_s(sims) - sims0
    phase.load = load_average()
    return phase


# -- the run -----------------------------------------------------------------------------------


def start_server(workdir: Path, args: argparse.Namespace) -> SightlineProcess:
    """``sightline serve`` with limits raised: every device comes from 127.0.0.1."""
    data = workdir / "data"
    data.mkdir()
    return start_sightline(
        data,
        password=PASSWORD,
        env={
            "SIGHTLINE_ADMIN__PASSWORD": ADMIN,
            "SIGHTLINE_LOG__LEVEL": "WARNING",
            "SIGHTLINE_SIP__RATE_PER_SOURCE": "1000000",
            "SIGHTLINE_SIP__RATE_BURST": "1000000",
            "SIGHTLINE_SIP__BAN_AFTER_FAILURES": "1000000",
            "SIGHTLINE_GB28181__KEEPALIVE_INTERVAL_S": f"{args.keepalive_s:g}",
            "SIGHTLINE_SIP__REGISTER_WORKERS": str(args.register_workers),
        },
        startup_timeout_s=60,
    )


def run(args: argparse.Namespace, workdir: Path) -> int:
    """The whole benchmark; prints a report and returns the exit status."""
    n = args.devices
    server = start_server(workdir, args)
    phases: list[Phase] = []
    notes: list[str] = []
    try:
        api = ApiClient(server.http_url, password=ADMIN, timeout_s=120)
        rss0 = rss_mib(server.pid)
        sims = simulators(server, args)
        with fleet(sims):
            print(f"registering {n} devices from {len(sims)} simulators...", flush=True)
            reg = wait_phase(
                "registration", server, sims, lambda: online(api) >= n, args.online_timeout
            )
            reg.note = f"{online(api)} online"
            phases.append(reg)
            print(f"  {reg.note} after {reg.seconds:.1f}s", flush=True)
            profiler = None
            rows: list[tuple[str, float]] = []
            if args.profile:
                out = workdir / "onboarding.txt"
                profiler = threading.Thread(
                    target=lambda: rows.extend(profile(server.pid, args.profile, out))
                )
                profiler.start()
            onb = wait_phase(
                "onboarding", server, sims, lambda: channels(api) >= n, args.onboard_timeout
            )
            if profiler is not None:
                profiler.join()
                show_profile("onboarding", rows)
            onb.note = f"{channels(api)} channels"
            phases.append(onb)
            print(f"  {onb.note} after {reg.seconds + onb.seconds:.1f}s", flush=True)
            bench = Bench(server, api, sims, args, workdir, notes)
            phases.append(steady(bench))
            rss1 = rss_mib(server.pid)
            phases.append(storm(bench))
        report(args, phases, notes, rss0, rss1)
        api.close()
    finally:
        code = server.stop(30)
        log_file = workdir / "server.log"
        log_file.write_text(server.log())
        if code != 0 or server.log_problems():
            print(f"server exit {code}; it logged exceptions, see {log_file} (use --keep)")
            print(server.log()[-4000:])
    return 0


def steady(bench: Bench) -> Phase:
    """Keepalives only: CPU share, minimum online count, REGISTERs beyond the first."""
    server, api, args, workdir, notes = (
        bench.server,
        bench.api,
        bench.args,
        bench.workdir,
        bench.notes,
    )
    n = args.devices
    seconds = args.steady_intervals * args.keepalive_s
    print(f"steady state for {seconds:g}s...", flush=True)
    registers0 = metric(server, 'sightline_sip_requests_total{method="REGISTER"}')
    messages0 = metric(server, 'sightline_sip_requests_total{method="MESSAGE"}')
    lowest = n
    rows: list[tuple[str, float]] = []
    profiler = threading.Thread(
        target=lambda: rows.extend(profile(server.pid, args.profile, workdir / "steady.txt"))
    )
    cpu0, sims0, t0 = cpu_s(server.pid), sims_cpu_s(bench.sims), time.monotonic()
    if args.profile:
        profiler.start()
    while time.monotonic() - t0 < seconds:
        lowest = min(lowest, online(api))
        time.sleep(5)
    phase = Phase("steady state", time.monotonic() - t0, cpu_s(server.pid) - cpu0, True)
    phase.sims_cpu_s = sims_cpu_s(bench.sims) - sims0
    phase.load = load_average()
    registers = metric(server, 'sightline_sip_requests_total{method="REGISTER"}') - registers0
    messages = metric(server, 'sightline_sip_requests_total{method="MESSAGE"}') - messages0
    lost = n - online(api)
    phase.done = lost == 0 and lowest == n and registers == 0
    phase.note = (
        f"{messages / phase.seconds:,.0f} MESSAGE/s; min online {lowest}, offline {offline(api)}, "
        f"lost {lost}, REGISTERs {registers:.0f}"
    )
    notes.append(f"steady: {phase.note}")
    print(f"  {phase.note}; CPU {phase.cpu_share:.1f} %", flush=True)
    if args.profile:
        profiler.join()
        show_profile("steady state", rows)
    return phase


def storm(bench: Bench) -> Phase:
    """Kill every simulator and start them again at once; time until all re-registered."""
    server, api, sims, args, notes = bench.server, bench.api, bench.sims, bench.args, bench.notes
    workdir = bench.workdir
    n = args.devices
    auth0 = metric(server, "sightline_sip_auth_successes_total")
    for sim in sims:
        sim.stop(signal.SIGKILL)
    for sim in sims:
        rate = sim.args.index("--register-rate")
        sim.args[rate + 1] = "1000000"
    print(f"storm: {n} devices re-register at once...", flush=True)
    rows: list[tuple[str, float]] = []
    profiler: threading.Thread | None = None
    if args.profile:
        profiler = threading.Thread(
            target=lambda: rows.extend(profile(server.pid, args.profile, workdir / "storm.txt"))
        )

    def all_back() -> bool:
        registered = sum(s.progress()[0] for s in sims)
        auth = metric(server, "sightline_sip_auth_successes_total") - auth0
        return bool(registered >= n and auth >= n)

    cpu0, t0 = cpu_s(server.pid), time.monotonic()
    for sim in sims:
        sim.start()
    if profiler is not None:
        profiler.start()
    phase = wait_phase("storm", server, sims, all_back, args.online_timeout, poll_s=0.5)
    phase.cpu_s = cpu_s(server.pid) - cpu0
    phase.seconds = time.monotonic() - t0
    phase.sims_cpu_s = sims_cpu_s(sims)  # new processes: everything since they started
    progress = [s.progress() for s in sims]
    registered = sum(p[0] for p in progress)
    failures = sum(p[1] for p in progress)
    retrans = sum(p[2] for p in progress)
    time.sleep(3)  # let the write-behind flush reach the store
    phase.note = (
        f"{registered}/{n} re-registered, failures {failures}, retransmissions {retrans}, "
        f"API online {online(api)}, offline {offline(api)}"
    )
    notes.append(f"storm: {phase.note}")
    print(f"  {phase.note} after {phase.seconds:.1f}s", flush=True)
    if profiler is not None:
        profiler.join()
        show_profile("storm", rows)
    return phase


def report(
    args: argparse.Namespace, phases: list[Phase], notes: list[str], rss0: float, rss1: float
) -> None:
    """Print the results as a Markdown table."""
    n = args.devices
    print(
        f"\n## {n:,} devices, {args.processes} simulators, keepalive {args.keepalive_s:g}s, "
        f"{args.register_workers} REGISTER workers\n"
    )
    print("| phase | seconds | done | server CPU | simulators' CPU | machine at the end | notes |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for p in phases:
        print(
            f"| {p.name} | {p.seconds:.1f} | {'yes' if p.done else 'NO'} | "
            f"{p.cpu_share:.1f} % | {p.sims_share:.1f} % | {p.load} | {p.note} |"
        )
    per_device_kib = (rss1 - rss0) * 1024 / n
    print(
        f"\nserver RSS {rss0:.0f} MiB before, {rss1:.0f} MiB with {n:,} devices online: "
        f"{per_device_kib:.1f} KiB per device"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--processes", type=int, default=4, help="simulator processes")
    parser.add_argument("--keepalive-s", type=float, default=60.0)
    parser.add_argument("--steady-intervals", type=float, default=2.0)
    parser.add_argument(
        "--register-rate", type=float, default=2000.0, help="registrations/s, all simulators"
    )
    parser.add_argument(
        "--register-workers", type=int, default=0, help="serve's sip.register_workers"
    )
    parser.add_argument("--online-timeout", type=float, default=600.0)
    parser.add_argument("--onboard-timeout", type=float, default=600.0)
    parser.add_argument("--profile", type=float, default=0.0, help="py-spy seconds per phase")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="sightline-devices-online-"))
    try:
        return run(args, workdir)
    finally:
        if args.keep:
            print(f"work directory: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

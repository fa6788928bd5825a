"""Re-registration storms of onboarded devices, with the CPU of every server process.

``devices_online.py`` measures one storm at the end of a long run; this repeats only what a
storm needs, to compare changes quickly: ``--devices`` simulated IPCs register (at
``--register-rate``) and, with ``--onboard``, are onboarded (DeviceInfo, Catalog, subscriptions:
what makes a restarted device cost the platform more than a REGISTER); then ``--storms``
times every simulator is killed (no unregister) and started again at an unlimited rate, until
every simulator reports its devices registered and the server counted N more digest
successes. Each storm prints its time, retransmissions, the CPU of the server (per process:
the main process and each REGISTER worker) and of the simulators, per device, and datagrams
shed; with ``--onboard``, then how long until every device had its catalog and alarm
subscriptions again (``/metrics``; they wait while the storm lasts). ``--profile S`` samples
every server process and the first simulator with py-spy for S seconds, 1 s into each storm.

Run: ``.venv/bin/python benchmarks/devices_storm.py --devices 30000 --onboard --storms 2``
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make the tests package importable
    sys.path.insert(0, str(ROOT))

from tests.e2e.api_client import ApiClient  # noqa: E402
from tests.e2e.server import SightlineProcess  # noqa: E402

from benchmarks import devices_online as bench  # noqa: E402
from benchmarks import procs, sim_fleet  # noqa: E402

_AUTH = "sightline_sip_auth_successes_total"
_SHED = "sightline_sip_dropped_overload_total"
_SUBS = [f'sightline_device_subscriptions{{kind="{k}"}}' for k in ("catalog", "alarm")]


def _profile_all(pids: list[int], seconds: float, workdir: Path, storm: int) -> None:
    """py-spy every process at once; print each one's hottest frames when done."""
    results: dict[int, list[tuple[str, float]]] = {}

    def one(pid: int) -> None:
        results[pid] = procs.profile(pid, seconds, workdir / f"storm{storm}-{pid}.txt")

    threads = [threading.Thread(target=one, args=(pid,)) for pid in pids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for pid in pids:
        procs.show_profile(f"storm {storm}, process {pid}", results.get(pid, []))


def storm(
    server: SightlineProcess, sims: list[sim_fleet.Simulator], args: argparse.Namespace, k: int
) -> None:
    """One storm: kill and restart every simulator; print what it took."""
    n = args.devices
    pids = [server.pid, *procs.children(server.pid)]
    auth0, shed0 = bench.metric(server, _AUTH), bench.metric(server, _SHED)
    for sim in sims:
        sim.stop(signal.SIGKILL)
        rate = sim.args.index("--register-rate")
        sim.args[rate + 1] = "1000000"
    cpu0 = {pid: procs.cpu_s(pid) for pid in pids}
    t0 = time.monotonic()
    for sim in sims:
        sim.start()
    profiler = None
    if args.profile:
        time.sleep(1.0)
        profiled = [*pids, sims[0].pid]  # one simulator: they all do the same
        profiler = threading.Thread(
            target=_profile_all, args=(profiled, args.profile, args.workdir, k)
        )
        profiler.start()

    def all_back() -> bool:
        registered = sum(s.progress()[0] for s in sims)
        return bool(registered >= n and bench.metric(server, _AUTH) - auth0 >= n)

    phase = bench.wait_phase("storm", server, sims, all_back, args.timeout, poll_s=0.5)
    seconds = time.monotonic() - t0
    per = [procs.cpu_s(pid) - cpu0[pid] for pid in pids]
    sims_cpu = sim_fleet.sims_cpu_s(sims)
    progress = [s.progress() for s in sims]
    if profiler is not None:
        profiler.join()
    shares = " / ".join(f"{100 * c / seconds:.0f} %" for c in per)
    print(
        f"storm {k}: {seconds:.1f} s, {'done' if phase.done else 'NOT DONE'}; "
        f"registered {sum(p[0] for p in progress)}/{n}, failures {sum(p[1] for p in progress)}, "
        f"retransmissions {sum(p[2] for p in progress)}, "
        f"shed {bench.metric(server, _SHED) - shed0:.0f}; "
        f"server {1e6 * sum(per) / n:.0f} µs/device (main / workers: {shares}), "
        f"simulators {100 * sims_cpu / seconds:.0f} % ({1e6 * sims_cpu / n:.0f} µs/device); "
        f"{procs.load_average()}",
        flush=True,
    )
    if args.onboard:
        # restarted devices lost their subscriptions; they are made again once the storm is over
        t1 = time.monotonic()
        again = bench.wait_phase(
            "re-subscription",
            server,
            sims,
            lambda: all(bench.metric(server, name) >= n for name in _SUBS),
            args.timeout,
        )
        subs = ", ".join(f"{bench.metric(server, name):.0f}" for name in _SUBS)
        print(
            f"storm {k}: catalog, alarm subscriptions {subs} of {n} "
            f"{'all back' if again.done else 'NOT all back'} {time.monotonic() - t1:.1f} s "
            f"after the storm ({time.monotonic() - t0:.1f} s after its start)",
            flush=True,
        )


def main() -> int:
    """Parse the options, run, print one line per phase."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=30_000)
    parser.add_argument("--processes", type=int, default=4, help="simulator processes")
    parser.add_argument("--register-rate", type=float, default=3000.0)
    parser.add_argument("--register-workers", type=int, default=2)
    parser.add_argument("--keepalive-s", type=float, default=60.0)
    parser.add_argument("--onboard", action="store_true", help="wait for every catalog first")
    parser.add_argument("--storms", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=600.0, help="per phase, seconds")
    parser.add_argument("--profile", type=float, default=0.0, help="py-spy seconds per storm")
    args = parser.parse_args()
    args.workdir = Path(tempfile.mkdtemp(prefix="sightline-devices-storm-"))
    server = bench.start_server(args.workdir, args)
    print(f"work directory {args.workdir}", flush=True)
    try:
        api = ApiClient(server.http_url, password=bench.ADMIN, timeout_s=120)
        sims = bench.simulators(server, args)
        with sim_fleet.fleet(sims):
            n = args.devices
            reg = bench.wait_phase(
                "registration", server, sims, lambda: bench.online(api) >= n, args.timeout
            )
            print(f"registration: {reg.seconds:.1f} s, {bench.online(api)} online", flush=True)
            if args.onboard:
                onb = bench.wait_phase(
                    "onboarding", server, sims, lambda: bench.channels(api) >= n, args.timeout
                )
                print(f"onboarding: {onb.seconds:.1f} s, {bench.channels(api)} channels")
            time.sleep(5)
            for k in range(args.storms):
                storm(server, sims, args, k)
                time.sleep(5)
        api.close()
    finally:
        code = server.stop(30)
        (args.workdir / "server.log").write_text(server.log())
        if code != 0 or server.log_problems():
            print(f"server exit {code}; see {args.workdir / 'server.log'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

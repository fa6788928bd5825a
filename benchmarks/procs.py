"""What the benchmarks read about processes: CPU seconds, children, memory, load, UDP
drops from ``/proc``, and py-spy profiles of a running process."""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of one process and its live children (REGISTER workers)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0  # exited meanwhile
    total = (int(fields[11]) + int(fields[12])) / CLK_TCK
    return total + sum(cpu_s(child) for child in children(pid))


def children(pid: int) -> list[int]:
    """Child process IDs of ``pid``."""
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                found.extend(int(c) for c in (task / "children").read_text().split())
    return found


def load_average() -> str:
    """The 1-minute load average and CPU pressure ("some" avg10), for the report."""
    load = Path("/proc/loadavg").read_text().split()[0]
    pressure = "?"
    with contextlib.suppress(OSError, IndexError):
        pressure = Path("/proc/pressure/cpu").read_text().split()[1].split("=")[1]
    return f"load {load}, CPU pressure {pressure} %"


def rss_mib(pid: int) -> float:
    """Resident set size of one process, MiB."""
    pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return pages * PAGE_KB / 1024


def udp_receive_errors() -> int:
    """The machine's UDP RcvbufErrors (datagrams dropped for a full socket buffer)."""
    lines = [line.split() for line in Path("/proc/net/snmp").read_text().splitlines()]
    for names, values in itertools.pairwise(lines):
        if names[0] == "Udp:" and values[0] == "Udp:" and "RcvbufErrors" in names:
            return int(values[names.index("RcvbufErrors")])
    return 0


def cmdline(pid: int) -> str:
    """The command line of ``pid`` ("" once it has ended)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def profile(pid: int, seconds: float, out: Path) -> list[tuple[str, float]]:
    """Sample ``pid`` with py-spy; the functions most often on the stack (% of samples)."""
    pyspy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    done = subprocess.run(
        [
            *(pyspy, "record", "--pid", str(pid), "--duration", f"{seconds:g}", "--rate", "50"),
            *("--format", "raw", "--output", str(out), "--nonblocking"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0 or not out.exists():
        print(f"py-spy failed: {done.stderr.strip()[-500:]}", flush=True)
        return []
    inclusive: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    total = 0
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        total += n
        frames = stack.split(";")
        leaf[_module(frames[-1])] += n
        for frame in set(frames):
            inclusive[frame] += n
    if not total:
        return []
    # "self:" rows: where the CPU is spent, by module; the others: call paths, by function
    return [(f"self: {m}", 100 * n / total) for m, n in leaf.most_common(12)] + [
        (frame, 100 * n / total) for frame, n in inclusive.most_common(60)
    ]


def _module(frame: str) -> str:
    """``func (path/to/module.py:12)`` -> ``path/to/module.py``."""
    inner = frame.rpartition("(")[2]
    return inner.rpartition(":")[0] or frame


def show_profile(title: str, rows: list[tuple[str, float]]) -> None:
    """Print where the server spends CPU (py-spy samples only non-idle moments)."""
    print(f"\n{title} (py-spy, % of busy samples):")
    shown = 0
    for frame, share in rows:
        skip = any(top in frame for top in ("cli/main.py", "base_events.py", "runners.py"))
        if frame.startswith("self: ") or (not skip and shown < 22):
            print(f"  {share:5.1f} %  {frame}")
            shown += 0 if frame.startswith("self: ") else 1

"""A throwaway PostgreSQL server for tests.

``postgres_server()`` runs initdb into a temporary directory, starts the server on a free port
of 127.0.0.1 (plus a unix socket in that directory) with durability switched off, creates the
``sightline_test`` database and yields its URL; it stops the server and removes everything at
the end. Root cannot run postgres, so as root the server runs as the ``postgres`` OS user.

When no server binaries are installed the fixture skips with the reason, so a laptop without
PostgreSQL still runs the SQLite half of the suite.
"""

from __future__ import annotations

import glob
import logging
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["find_bindir", "postgres_server", "unavailable_reason"]

logger = logging.getLogger(__name__)

DB_NAME = "sightline_test"
START_ATTEMPTS = 3
# Durability is pointless for a test cluster that is deleted afterwards.
FAST_SETTINGS = (
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
    "max_connections=100",
    "shared_buffers=32MB",
)


def find_bindir() -> Path | None:
    """The newest ``/usr/lib/postgresql/*/bin`` with initdb, or ``$SIGHTLINE_PG_BINDIR``."""
    override = os.environ.get("SIGHTLINE_PG_BINDIR")
    if override:
        return Path(override) if (Path(override) / "initdb").exists() else None
    bindirs = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")]
    bindirs.sort(key=lambda b: int(b.parent.name) if b.parent.name.isdigit() else 0)
    return bindirs[-1] if bindirs else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unavailable_reason() -> str | None:
    """Why a test PostgreSQL server cannot run here, or ``None`` if it can."""
    if find_bindir() is None:
        return "PostgreSQL server binaries not installed (apt-get install postgresql)"
    if os.geteuid() != 0:
        return None
    if shutil.which("runuser") is None:
        return "running as root but runuser is missing: cannot drop to the 'postgres' user"
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "running as root and there is no 'postgres' OS user to run the server"
    return None


def _as_server_user() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def _run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr}")


def _start(bindir: Path, prefix: list[str], root: Path) -> int:
    """Start the server on a free port and return the port; retries if the port was taken."""
    for attempt in range(1, START_ATTEMPTS + 1):
        port = _free_port()
        options = " ".join(
            ["-c listen_addresses=127.0.0.1", f"-p {port}", f"-k {root}"]
            + [f"-c {setting}" for setting in FAST_SETTINGS]
        )
        cmd = [str(bindir / "pg_ctl"), "-D", str(root / "data"), "-l", str(root / "log")]
        try:
            _run([*prefix, *cmd, "-w", "-t", "30", "-o", options, "start"])
            return port
        except RuntimeError:
            if attempt == START_ATTEMPTS:
                log = (root / "log").read_text(errors="replace")
                raise RuntimeError(f"postgres did not start; its log:\n{log}") from None
    raise AssertionError("unreachable")


def _initdb(bindir: Path, prefix: list[str], data: Path) -> None:
    # Trust is safe here: the server listens on 127.0.0.1 and a socket in a private dir.
    args = ["-D", str(data), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"]
    _run([*prefix, str(bindir / "initdb"), *args, "--locale=C"])


def _createdb(bindir: Path, port: int) -> None:
    args = ["-h", "127.0.0.1", "-p", str(port), "-U", "postgres", DB_NAME]
    _run([str(bindir / "createdb"), *args])


def _stop(bindir: Path, prefix: list[str], data: Path) -> None:
    # Immediate mode: no shutdown checkpoint, the cluster is deleted anyway.
    _run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"])


@contextmanager
def postgres_server() -> Iterator[str]:
    """Run a temporary cluster and yield ``postgresql+asyncpg://postgres@127.0.0.1:PORT/...``."""
    reason = unavailable_reason()
    bindir = find_bindir()
    if reason is not None or bindir is None:
        raise RuntimeError(reason)
    prefix = _as_server_user()
    # Not under pytest's tmp dir: that one is 0700 root, which the postgres user cannot enter.
    root = Path(tempfile.mkdtemp(prefix="sightline-pg-"))
    started = False
    try:
        if prefix:
            shutil.chown(root, "postgres", "postgres")
        began = time.monotonic()
        _initdb(bindir, prefix, root / "data")
        port = _start(bindir, prefix, root)
        started = True
        _createdb(bindir, port)
        logger.info("postgres %s on 127.0.0.1:%d in %.2fs", bindir, port, time.monotonic() - began)
        yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}/{DB_NAME}"
    finally:
        if started:
            _stop(bindir, prefix, root / "data")
        shutil.rmtree(root, ignore_errors=True)

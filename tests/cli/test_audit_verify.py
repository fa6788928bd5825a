"""``sightline audit verify`` as an operator runs it, on a tampered and an untouched chain."""

from __future__ import annotations

import asyncio
import io
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from sightline.access.audit import AuditLog
from sightline.access.audit_events import AuditAction, AuditEvent
from sightline.cli.audit import _progress
from sightline.cli.main import main
from sightline.config import AuditSettings
from sightline.keys import load_or_create_secrets
from sightline.store import Database, migrate
from sightline.store.db import default_sqlite_url
from tests.e2e.api_client import ADMIN_PASSWORD
from tests.e2e.server import start_sightline


def config_file(data_dir: Path) -> Path:
    """A configuration naming ``data_dir`` (database and secrets.json live there)."""
    path = data_dir / "sightline.yaml"
    path.write_text(f"data_dir: {data_dir.as_posix()}\n", encoding="utf-8")
    return path


async def _write_records(data_dir: Path, count: int) -> None:
    secrets = load_or_create_secrets(data_dir)
    url = default_sqlite_url(data_dir)
    await migrate(url)
    database = await Database.connect(url)
    settings = AuditSettings(batch_max=10, anchor_every=10, flush_interval_s=0.01)
    log = AuditLog(database, secrets.server_key, settings, spill_path=data_dir / "spill.jsonl")
    await log.start()
    for i in range(count):
        channel = f"340200000013200000{i % 5:02d}"
        log.record(AuditEvent(AuditAction.PTZ, username="op", channel_id=channel))
    await log.close()
    await database.close()


def tamper(data_dir: Path, statement: str) -> None:
    """Edit the database with plain SQL, outside sightline."""
    with sqlite3.connect(data_dir / "sightline.db") as conn:
        conn.execute(statement)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ``SIGHTLINE_*`` variables of the test run leak into the configuration."""
    for name in list(os.environ):
        if name.startswith("SIGHTLINE_"):
            monkeypatch.delenv(name)


@pytest.mark.usefixtures("clean_env")
def test_verify_reports_ok_then_the_edited_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(_write_records(tmp_path, 30))
    config = config_file(tmp_path)
    assert main(["audit", "verify", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK: 30 records verified, chain head 30, 3 signed anchors checked")
    tamper(tmp_path, "UPDATE audit_records SET channel_id = '34020000001320000099' WHERE seq = 17")
    assert main(["audit", "verify", "--config", str(config), "--page-size", "4"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("BROKEN at record 17 (hash): record 17 does not match its hash")
    assert "16 records before it verified" in out


@pytest.mark.usefixtures("clean_env")
def test_verify_reports_a_deleted_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    asyncio.run(_write_records(tmp_path, 12))
    tamper(tmp_path, "DELETE FROM audit_records WHERE seq = 5")
    assert main(["audit", "verify", "--config", str(config_file(tmp_path))]) == 1
    assert "BROKEN at record 5 (gap): record 5 is missing" in capsys.readouterr().out


@pytest.mark.usefixtures("clean_env")
def test_verify_without_the_server_key_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "verify", "--config", str(config_file(tmp_path))]) == 2
    assert "secrets.json not found" in capsys.readouterr().err


@pytest.mark.usefixtures("clean_env")
def test_verify_rejects_a_bad_page_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = str(config_file(tmp_path))
    assert main(["audit", "verify", "--config", config, "--page-size", "0"]) == 2
    assert "--page-size" in capsys.readouterr().err


def test_long_runs_show_a_progress_bar_on_a_terminal() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    with _progress(console) as update:
        update(5_000, 50_000)
        update(50_000, 50_000)
    assert "verifying audit chain" in out.getvalue()
    quiet = io.StringIO()
    with _progress(Console(file=quiet, force_terminal=True)) as update:
        update(10, 10)  # short run: no bar
    assert quiet.getvalue() == ""


def _login(base: str, username: str, password: str) -> httpx.Response:
    body = {"username": username, "password": password}
    return httpx.post(f"{base}/api/v1/auth/login", json=body, timeout=10)


def test_records_survive_sigterm_and_the_chain_verifies(tmp_path: Path) -> None:
    # The real server: logins and a logout, then SIGTERM right away; queued records must be
    # written at shutdown and the chain must verify from the command line.
    server = start_sightline(tmp_path, env={"SIGHTLINE_ADMIN__PASSWORD": ADMIN_PASSWORD})
    try:
        base = server.http_url
        tokens = [_login(base, "admin", ADMIN_PASSWORD).json()["access_token"] for _ in range(3)]
        wrong = "not-the-password-x9"
        assert _login(base, "admin", wrong).status_code == 401
        assert _login(base, "nobody", wrong).status_code == 401
        headers = {"Authorization": f"Bearer {tokens[0]}"}
        assert httpx.post(f"{base}/api/v1/auth/logout", headers=headers).status_code == 204
        assert server.stop() == 0
    finally:
        server.stop()
    assert server.log_problems() == []
    with sqlite3.connect(tmp_path / "sightline.db") as conn:
        rows = conn.execute(
            "SELECT action, outcome, username, address, detail FROM audit_records ORDER BY seq"
        ).fetchall()
    summary = [(a, o, u) for a, o, u, _, _ in rows]
    assert summary.count(("login", "ok", "admin")) == 3
    assert ("login", "failed", "admin") in summary
    assert ("login", "failed", "nobody") in summary
    assert ("logout", "ok", "admin") in summary
    assert {address for _, _, _, address, _ in rows} == {"127.0.0.1"}
    assert all(wrong not in str(row) and ADMIN_PASSWORD not in str(row) for row in rows)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGHTLINE_")}
    env["SIGHTLINE_DATA_DIR"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "sightline.cli.main", "audit", "verify"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith(f"OK: {len(rows)} records verified")
    assert "after the last anchor" not in done.stdout  # shutdown signed the head

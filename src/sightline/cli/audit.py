"""``sightline audit verify``: check the whole audit chain of an installation.

    sightline audit verify [--config FILE] [--page-size N]

Reads the same configuration as ``serve`` (database URL, ``data_dir`` with ``secrets.json``,
whose server key the anchors are signed with), walks the chain in pages with a progress bar on
a terminal, and prints either ``OK`` with the counts (exit 0) or the first broken link (exit 1).
It only reads: the database is not migrated or changed.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sightline.errors import ConfigError

if TYPE_CHECKING:  # the command line parser loads without these (and without the database)
    from rich.console import Console

    from sightline.access.audit_verify import VerifyReport
    from sightline.config import Settings

__all__ = ["add_parser", "report_lines", "run"]

# Below this many records a run takes well under a second: no bar.
_BAR_FROM_RECORDS = 20_000


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``audit`` sub-command to ``subparsers`` (from ``add_subparsers``)."""
    audit = subparsers.add_parser("audit", help="audit trail tools")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_sub.add_parser(
        "verify", help="check every hash, link and signed anchor of the audit chain"
    )
    verify.add_argument("--config", type=Path, help="YAML configuration file")
    verify.add_argument("--page-size", type=int, default=5000, help="records read per query")
    return audit  # type: ignore[no-any-return]


def run(args: argparse.Namespace) -> int:
    """Run ``sightline audit <command>``; the exit status."""
    from rich.console import Console

    from sightline.config import load_settings

    settings = load_settings(args.config)
    if args.page_size < 1:
        raise ConfigError("--page-size must be at least 1")
    report = asyncio.run(_verify(settings, args.page_size, Console(stderr=True)))
    for line in report_lines(report):
        print(line)
    return 0 if report.ok else 1


def _server_key(settings: Settings) -> bytes:
    from sightline.keys import load_or_create_secrets

    if not (settings.data_dir / "secrets.json").is_file():
        raise ConfigError(
            f"{settings.data_dir / 'secrets.json'} not found: anchors cannot be checked without "
            "the server key (is data_dir the one the server uses?)"
        )
    return load_or_create_secrets(settings.data_dir).server_key


async def _verify(settings: Settings, page_size: int, console: Console) -> VerifyReport:
    from sightline.access.audit_chain import anchor_key, anchor_promise
    from sightline.access.audit_verify import verify_chain
    from sightline.store import Database

    key = anchor_key(_server_key(settings))
    database = await Database.connect(settings.database_url)
    try:
        with _progress(console) as progress:
            return await verify_chain(
                database,
                key,
                page_size=page_size,
                progress=progress,
                first_within=anchor_promise(settings.audit.anchor_every, settings.audit.batch_max),
            )
    finally:
        await database.close()


@contextmanager
def _progress(console: Console) -> Iterator[Callable[[int, int], None]]:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    bar = Progress(
        TextColumn("verifying audit chain"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    task = bar.add_task("verify", total=None)
    started = False

    def update(done: int, total: int) -> None:
        nonlocal started
        if not started and total >= _BAR_FROM_RECORDS and console.is_terminal:
            bar.start()
            started = True
        bar.update(task, completed=done, total=total)

    try:
        yield update
    finally:
        if started:
            bar.stop()


def report_lines(report: VerifyReport) -> list[str]:
    """What ``verify`` prints for ``report``."""
    if report.problem is not None:
        problem = report.problem
        return [
            f"BROKEN at record {problem.seq} ({problem.kind}): {problem.message}",
            f"  {report.records} records before it verified, {report.anchors} anchors checked",
        ]
    lines = [
        f"OK: {report.records} records verified, chain head {report.head_seq}, "
        f"{report.anchors} signed anchors checked"
    ]
    if report.unanchored:
        lines.append(
            f"  note: the last {report.unanchored} records are after the last anchor "
            f"({report.last_anchor_seq}); deleting them would not be detectable yet"
        )
    if not report.complete:
        lines.append("  note: stopped before the end of the chain")
    return lines

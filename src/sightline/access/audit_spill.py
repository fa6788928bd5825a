"""The audit overflow file: records that did not fit in memory wait here to be written.

When the in-memory queue of :class:`~sightline.access.audit.AuditLog` is full (the database is
down or far too slow), every further record is appended to ``<data_dir>/audit-spill.jsonl``, one
JSON object per line, until the writer has caught up and ingested the file; then the file is
emptied. A file left by a crash or a shutdown that ran out of time is ingested at the next start.
A crash between writing an ingested batch and emptying the file can write that batch twice: a
visible duplicate, never a loss.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from sightline.access.audit_events import AuditAction, AuditEvent, AuditOutcome

__all__ = ["AuditSpill", "event_from_json", "event_to_json"]

log = logging.getLogger(__name__)


def event_to_json(event: AuditEvent) -> str:
    """One line of the spill file for ``event``."""
    return json.dumps(
        {
            "action": str(event.action),
            "outcome": str(event.outcome),
            "username": event.username,
            "user_id": event.user_id,
            "department": event.department,
            "channel_id": event.channel_id,
            "address": event.address,
            "purpose": event.purpose,
            "detail": {str(k): v for k, v in event.detail.items()},
            "at": event.at.isoformat(),
        },
        ensure_ascii=False,
        default=str,
    )


def event_from_json(line: str) -> AuditEvent:
    """Parse a spill line; ``ValueError`` (or ``KeyError``/``TypeError``) if it is damaged."""
    raw: dict[str, Any] = json.loads(line)
    return AuditEvent(
        action=AuditAction(raw["action"]),
        outcome=AuditOutcome(raw["outcome"]),
        username=raw["username"],
        user_id=raw["user_id"],
        department=raw["department"],
        channel_id=raw["channel_id"],
        address=raw["address"],
        purpose=raw["purpose"],
        detail=dict(raw["detail"]),
        at=datetime.fromisoformat(raw["at"]),
    )


class AuditSpill:
    """Append events to a file; read them back in order from where the last batch ended."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._out: IO[str] | None = None
        self._offset = 0
        self.damaged_lines = 0

    def has_data(self) -> bool:
        """Whether the file holds records not yet ingested."""
        try:
            return self.path.stat().st_size > self._offset
        except FileNotFoundError:
            return False

    def append(self, event: AuditEvent) -> None:
        """Write one event (raises ``OSError`` if the disk refuses)."""
        if self._out is None:
            self._out = self.path.open("a", encoding="utf-8")
        self._out.write(event_to_json(event) + "\n")
        self._out.flush()

    def read(self, limit: int) -> tuple[list[AuditEvent], int]:
        """Up to ``limit`` events after the ingested part, and the offset after them."""
        events: list[AuditEvent] = []
        offset = self._offset
        try:
            with self.path.open("rb") as fh:
                fh.seek(offset)
                while len(events) < limit:
                    line = fh.readline()
                    if not line.endswith(b"\n"):
                        break  # end of file, or a line still being written
                    offset += len(line)
                    self._parse(line, events)
        except FileNotFoundError:
            pass
        return events, offset

    def _parse(self, line: bytes, into: list[AuditEvent]) -> None:
        try:
            into.append(event_from_json(line.decode("utf-8")))
        except (ValueError, KeyError, TypeError) as exc:
            self.damaged_lines += 1
            log.error("audit spill %s: damaged line skipped (%s): %r", self.path, exc, line[:200])

    def consumed(self, offset: int) -> None:
        """Mark everything before ``offset`` as written to the database."""
        self._offset = offset

    def clear(self) -> None:
        """Empty the file once everything in it is written."""
        if self._out is not None:
            self._out.close()
            self._out = None
        with contextlib.suppress(FileNotFoundError):
            os.truncate(self.path, 0)
        self._offset = 0

    def close(self) -> None:
        """Close the append handle (the file stays for the next start)."""
        if self._out is not None:
            self._out.close()
            self._out = None

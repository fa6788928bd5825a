"""Rows of the hash-chained audit trail and its signed anchors (``sightline.access.audit``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from sightline.store.models.base import Base, BigIntPk

__all__ = ["AuditAnchorRow", "AuditRecordRow"]

HASH_LEN = 64


class AuditRecordRow(Base):
    """``audit_records``: one row per auditable action, chained by ``prev_hash``.

    ``seq`` is given by the chain writer (1, 2, 3, ... without gaps), not by the database; no
    foreign keys, so deleting a user or channel keeps its history. ``action`` and ``outcome``
    are plain strings (no CHECK): a newer node may record actions an older schema never knew,
    and a refused insert would lose records. Each search filter has an index ending in ``seq``,
    so a filtered page in sequence order is one index range scan.
    """

    __tablename__ = "audit_records"
    __table_args__ = (
        Index("ix_audit_records_at", "at"),
        Index("ix_audit_records_username_seq", "username", "seq"),
        Index("ix_audit_records_channel_id_seq", "channel_id", "seq"),
        Index("ix_audit_records_department_seq", "department", "seq"),
        Index("ix_audit_records_action_seq", "action", "seq"),
    )

    seq: Mapped[int] = mapped_column(BigIntPk, primary_key=True, autoincrement=False)
    at: Mapped[datetime]
    action: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(16))
    username: Mapped[str | None] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(BigInteger)
    department: Mapped[str | None] = mapped_column(String(128))
    channel_id: Mapped[str | None] = mapped_column(String(64))
    address: Mapped[str | None] = mapped_column(String(64))
    purpose: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any]]
    prev_hash: Mapped[str] = mapped_column(String(HASH_LEN))
    hash: Mapped[str] = mapped_column(String(HASH_LEN))


class AuditAnchorRow(Base):
    """``audit_anchors``: "record ``seq`` had hash ``hash``", HMAC-signed with the server key."""

    __tablename__ = "audit_anchors"

    seq: Mapped[int] = mapped_column(BigIntPk, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(String(HASH_LEN))
    at: Mapped[datetime]
    key_id: Mapped[str] = mapped_column(String(16))
    signature: Mapped[str] = mapped_column(String(HASH_LEN))
    # signed promise: the next anchor signs a record at most this many records later
    # (NULL on anchors signed before the promise existed)
    next_within: Mapped[int | None] = mapped_column(BigInteger)

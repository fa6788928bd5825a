"""The auditors' view of the audit trail: records, pages, summaries, verification."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from sightline.access.audit_query import KeySummary
from sightline.access.audit_verify import VerifyReport
from sightline.store.repositories.audit import AuditRecord, DetailValue, SummaryKey

__all__ = [
    "AuditPageOut",
    "AuditProblemOut",
    "AuditRecordOut",
    "AuditSummaryOut",
    "AuditVerifyOut",
    "KeySummaryOut",
]


class AuditRecordOut(BaseModel):
    """One audit record: who, department, what, which channel, when, from where, why."""

    seq: int
    at: datetime
    action: str
    outcome: str
    user: str | None
    user_id: int | None
    department: str | None
    channel_id: str | None
    address: str | None
    purpose: str | None
    detail: dict[str, DetailValue]
    hash: str

    @classmethod
    def of(cls, record: AuditRecord) -> AuditRecordOut:
        """The API shape of a stored record."""
        return cls(
            seq=record.seq,
            at=record.at,
            action=record.action,
            outcome=record.outcome,
            user=record.username,
            user_id=record.user_id,
            department=record.department,
            channel_id=record.channel_id,
            address=record.address,
            purpose=record.purpose,
            detail=record.detail,
            hash=record.hash,
        )


class AuditPageOut(BaseModel):
    """One page in sequence order; pass ``next_cursor`` as ``cursor`` for the next one."""

    items: list[AuditRecordOut]
    limit: int
    order: Literal["asc", "desc"]
    next_cursor: int | None


class KeySummaryOut(BaseModel):
    """Counts by action for one channel, department or user (``key`` null: none recorded)."""

    key: str | None
    total: int
    actions: dict[str, int]

    @classmethod
    def of(cls, summary: KeySummary) -> KeySummaryOut:
        """The API shape of a summary row."""
        return cls(key=summary.key, total=summary.total, actions=summary.actions)


class AuditSummaryOut(BaseModel):
    """The busiest channels, departments or users first."""

    by: SummaryKey
    items: list[KeySummaryOut]


class AuditProblemOut(BaseModel):
    """The first broken link of the chain."""

    seq: int
    kind: str
    message: str


class AuditVerifyOut(BaseModel):
    """The result of checking the chain: ``ok`` and counts, or the first problem."""

    ok: bool
    complete: bool
    records: int
    anchors: int
    head_seq: int
    last_anchor_seq: int
    unanchored: int
    problem: AuditProblemOut | None

    @classmethod
    def of(cls, report: VerifyReport) -> AuditVerifyOut:
        """The API shape of a verification report."""
        problem = report.problem
        return cls(
            ok=report.ok,
            complete=report.complete,
            records=report.records,
            anchors=report.anchors,
            head_seq=report.head_seq,
            last_anchor_seq=report.last_anchor_seq,
            unanchored=report.unanchored,
            problem=None
            if problem is None
            else AuditProblemOut(seq=problem.seq, kind=problem.kind, message=problem.message),
        )

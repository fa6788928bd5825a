"""``/api/v1/audit``: search, CSV export, per-channel/department/user summaries, verification.

For auditors and system administrators (``Action.READ`` on the ``system/audit`` resource).
A CSV export is itself recorded (``audit.export``, with its filters); cells a spreadsheet would
run as formulas are prefixed with ``'``.
Pages are keyset pages by ``seq``: pass ``next_cursor`` back as ``cursor``. Times are ISO 8601
with a zone; ``since <= at < until``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import StreamingResponse

from sightline.access.audit import AuditLog
from sightline.access.audit_events import AuditAction, AuditEvent, AuditOutcome
from sightline.access.audit_query import AuditQueries, VerifyBusy
from sightline.access.service import Action, Principal, Resource, ResourceKind
from sightline.api.deps import (
    CurrentUser,
    authorize,
    client_address,
    department_of,
    record_audit,
)
from sightline.api.schemas.audit import (
    AuditPageOut,
    AuditRecordOut,
    AuditSummaryOut,
    AuditVerifyOut,
    KeySummaryOut,
)
from sightline.api.schemas.common import MAX_LIMIT, ErrorOut
from sightline.store.repositories.audit import AuditFilter, AuditRecord, SummaryKey

__all__ = ["AUDIT_RESOURCE", "router"]

AUDIT_RESOURCE = Resource(ResourceKind.SYSTEM, "audit")
MAX_VERIFY_RECORDS = 5_000_000
CSV_COLUMNS = (
    "seq",
    "at",
    "action",
    "outcome",
    "user",
    "user_id",
    "department",
    "channel_id",
    "address",
    "purpose",
    "detail",
    "hash",
)
# Stored text never holds NUL (PostgreSQL refuses it), so a filter with one is a client error.
_NO_NUL = r"^[^\x00]*$"
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

router = APIRouter(
    tags=["audit"],
    responses={
        401: {"model": ErrorOut},
        403: {"model": ErrorOut},
        422: {"model": ErrorOut},
        503: {"model": ErrorOut},
    },
)


def _queries(request: Request) -> AuditQueries:
    log = getattr(request.app.state, "audit", None)
    if not isinstance(log, AuditLog):
        raise HTTPException(503, "this server keeps no audit trail")
    return log.queries


def _aware(value: datetime | None, name: str) -> datetime | None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise HTTPException(422, f"{name} needs a time zone, e.g. 2026-11-25T08:00:00Z")
    return value


def audit_filter(
    *,
    since: Annotated[datetime | None, Query(description="records at or after (with zone)")] = None,
    until: Annotated[datetime | None, Query(description="records before (with zone)")] = None,
    user: Annotated[
        str | None, Query(max_length=64, pattern=_NO_NUL, description="username")
    ] = None,
    department: Annotated[str | None, Query(max_length=128, pattern=_NO_NUL)] = None,
    channel: Annotated[
        str | None, Query(max_length=64, pattern=_NO_NUL, description="channel ID")
    ] = None,
    action: Annotated[
        str | None,
        Query(max_length=32, pattern=_NO_NUL, description="e.g. login, live.start, ptz, denied"),
    ] = None,
    outcome: Annotated[AuditOutcome | None, Query()] = None,
) -> AuditFilter:
    """The search filters shared by every audit route."""
    return AuditFilter(
        since=_aware(since, "since"),
        until=_aware(until, "until"),
        username=user,
        department=department,
        channel_id=channel,
        action=action,
        outcome=None if outcome is None else str(outcome),
    )


Filter = Annotated[AuditFilter, Depends(audit_filter)]


@router.get("/api/v1/audit")
async def list_audit(
    *,
    principal: CurrentUser,
    request: Request,
    where: Filter,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    cursor: Annotated[
        int | None, Query(ge=0, le=2**63 - 1, description="next_cursor of the last page")
    ] = None,
    order: Annotated[Literal["asc", "desc"], Query(description="desc: newest first")] = "desc",
) -> AuditPageOut:
    """Records matching every filter, one keyset page."""
    await authorize(request, principal, Action.READ, AUDIT_RESOURCE)
    records = await _queries(request).search(
        where, limit=limit, cursor=cursor, newest_first=order == "desc"
    )
    return AuditPageOut(
        items=[AuditRecordOut.of(r) for r in records],
        limit=limit,
        order=order,
        next_cursor=records[-1].seq if len(records) == limit else None,
    )


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _csv_row(record: AuditRecord) -> list[str]:
    detail = json.dumps(record.detail, ensure_ascii=False, sort_keys=True)
    values = (
        record.seq,
        record.at.isoformat(),
        record.action,
        record.outcome,
        record.username,
        record.user_id,
        record.department,
        record.channel_id,
        record.address,
        record.purpose,
        detail,
        record.hash,
    )
    return [_cell(v) for v in values]


async def _csv_lines(queries: AuditQueries, where: AuditFilter) -> AsyncIterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    async for page in queries.export(where):
        writer.writerows(_csv_row(r) for r in page)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


def _export_event(request: Request, principal: Principal, where: AuditFilter) -> AuditEvent:
    """Exporting the trail is itself audited: who took which part of it."""
    criteria = {
        "since": where.since.isoformat() if where.since is not None else None,
        "until": where.until.isoformat() if where.until is not None else None,
        "user": where.username,
        "department": where.department,
        "channel": where.channel_id,
        "action": where.action,
        "outcome": where.outcome,
    }
    return AuditEvent(
        AuditAction.AUDIT_EXPORT,
        username=principal.username,
        user_id=principal.user_id,
        department=department_of(request, principal.user_id),
        address=client_address(request),
        detail={k: v for k, v in criteria.items() if v is not None},
    )


@router.get(
    "/api/v1/audit.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "every match, oldest first"}},
)
async def export_audit(
    principal: CurrentUser, request: Request, where: Filter
) -> StreamingResponse:
    """Every matching record as CSV (streamed, oldest first)."""
    await authorize(request, principal, Action.READ, AUDIT_RESOURCE)
    queries = _queries(request)
    record_audit(request, _export_event(request, principal, where))
    return StreamingResponse(
        _csv_lines(queries, where),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="audit.csv"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/api/v1/audit/summary")
async def audit_summary(
    *,
    principal: CurrentUser,
    request: Request,
    where: Filter,
    by: Annotated[SummaryKey, Query(description="channel, department or user")],
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> AuditSummaryOut:
    """Counts by action per channel, department or user, the busiest first."""
    await authorize(request, principal, Action.READ, AUDIT_RESOURCE)
    summaries = await _queries(request).summary(by, where, limit)
    return AuditSummaryOut(by=by, items=[KeySummaryOut.of(s) for s in summaries])


@router.get("/api/v1/audit/verify", responses={409: {"model": ErrorOut}})
async def verify_audit(
    principal: CurrentUser,
    request: Request,
    max_records: Annotated[
        int, Query(ge=1, le=MAX_VERIFY_RECORDS, description="stop after this many records")
    ] = 1_000_000,
) -> AuditVerifyOut:
    """Check hashes, links and signed anchors from the first record on."""
    await authorize(request, principal, Action.READ, AUDIT_RESOURCE)
    try:
        report = await _queries(request).verify(max_records)
    except VerifyBusy as exc:
        raise HTTPException(409, str(exc)) from None
    return AuditVerifyOut.of(report)

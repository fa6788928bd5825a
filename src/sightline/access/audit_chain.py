"""The audit hash chain: records, their canonical form, hashes and signed anchors (sans-IO).

A chained record is an :class:`~sightline.access.audit_events.AuditEvent` plus a sequence
number, the hash of the record before it and its own hash. Changing any field of any record,
deleting or inserting one breaks the chain at that point.

Canonical serialisation (version 1), the bytes that are hashed::

    UTF-8 of json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                        allow_nan=False)

where ``obj`` has exactly these keys: ``v`` (1), ``seq`` (int), ``at`` (UTC time as
``YYYY-MM-DDTHH:MM:SS.ffffffZ``, always six fraction digits), ``action``, ``outcome``,
``user``, ``user_id``, ``department``, ``channel``, ``address``, ``purpose`` (string or
null; ``user_id`` int or null), ``detail`` (an object of strings, ints, finite floats, bools
and nulls) and ``prev`` (the previous record's hash, 64 lowercase hex digits; 64 zeros before
the first record). ``hash = sha256(canonical).hexdigest()``.

Values are made storable before hashing (:func:`normalise`): NUL characters (PostgreSQL text
refuses them) become U+FFFD, strings are cut to their column widths, non-finite floats become
strings, and times lose nothing (both backends keep microseconds). So the stored row hashes to
the same value when read back.

An anchor signs ``(seq, hash, at, next_within)`` of one record with HMAC-SHA256 under a key
derived from the server key (:func:`anchor_key`); rewriting the chain consistently from some
record on (every hash recomputed) is caught by the first anchor after that record.
``next_within`` is a signed promise: the next anchor signs a record at most that many records
later (:func:`anchor_promise`: the writer anchors in the transaction of the batch that reaches
``anchor_every`` records, so never later than ``anchor_every + batch_max - 1``). Deleting the
anchors after a rewrite therefore breaks a promise instead of going unnoticed. Anchors from
before the promise (version 1, ``next_within`` NULL) sign ``(seq, hash, at)`` and promise nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sightline.access.audit_events import AuditEvent, AuditOutcome
from sightline.store.repositories.audit import GENESIS_HASH, AuditAnchor, AuditRecord, DetailValue

__all__ = [
    "LIMITS",
    "ChainHead",
    "FieldLimits",
    "anchor_key",
    "anchor_key_id",
    "anchor_promise",
    "anchor_signature_ok",
    "canonical_bytes",
    "chain",
    "format_time",
    "normalise",
    "record_hash",
    "sign_anchor",
    "utc",
]

CANONICAL_VERSION = 1
_ANCHOR_KEY_LABEL = b"sightline audit anchor key v1"


@dataclass(frozen=True, slots=True)
class FieldLimits:
    """Column widths: longer strings are cut before hashing so the row stores as hashed."""

    action: int = 32
    outcome: int = 16
    user: int = 64
    department: int = 128
    channel: int = 64
    address: int = 64
    purpose: int = 1000
    detail_key: int = 64
    detail_value: int = 1000
    detail_items: int = 32


LIMITS = FieldLimits()


@dataclass(frozen=True, slots=True)
class ChainHead:
    """The last record of the chain: where the next one links to."""

    seq: int = 0
    hash: str = GENESIS_HASH


def utc(at: datetime) -> datetime:
    """``at`` in UTC; a naive time is taken as UTC (how SQLite hands stored times back)."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def format_time(at: datetime) -> str:
    """UTC with microseconds and a ``Z``: the one time format of the canonical form."""
    return utc(at).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _text(value: object, limit: int) -> str | None:
    if value is None:
        return None
    text = value if type(value) is str else str(value)
    if len(text) > limit:
        text = text[:limit]
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def _detail_value(value: object, limits: FieldLimits) -> DetailValue:
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    return _text(value, limits.detail_value)


def _detail(detail: Mapping[str, object], limits: FieldLimits) -> dict[str, DetailValue]:
    out: dict[str, DetailValue] = {}
    for k, v in list(detail.items())[: limits.detail_items]:
        key, n = str(_text(k, limits.detail_key)), 2
        while key in out:  # two long keys cut to the same prefix: keep both, numbered
            suffix = f"~{n}"
            key, n = str(_text(k, limits.detail_key - len(suffix))) + suffix, n + 1
        out[key] = _detail_value(v, limits)
    return out


def _fields(event: AuditEvent, limits: FieldLimits = LIMITS) -> dict[str, Any]:
    """The stored column values of ``event`` (every field but seq and the hashes)."""
    return {
        "at": utc(event.at),
        "action": _text(event.action, limits.action),
        "outcome": _text(event.outcome, limits.outcome),
        "username": _text(event.username, limits.user),
        "user_id": event.user_id if type(event.user_id) is int else None,
        "department": _text(event.department, limits.department),
        "channel_id": _text(event.channel_id, limits.channel),
        "address": _text(event.address, limits.address),
        "purpose": _text(event.purpose, limits.purpose),
        "detail": _detail(event.detail, limits),
    }


def normalise(event: AuditEvent, limits: FieldLimits = LIMITS) -> AuditEvent:
    """``event`` with every value as it will be stored (see the module docstring)."""
    fields = _fields(event, limits)
    return AuditEvent(
        action=event.action,
        outcome=event.outcome,
        username=fields["username"],
        user_id=fields["user_id"],
        department=fields["department"],
        channel_id=fields["channel_id"],
        address=fields["address"],
        purpose=fields["purpose"],
        detail=fields["detail"],
        at=fields["at"],
    )


def _storable(raw: AuditEvent) -> dict[str, Any]:
    """``_fields(raw)``, or those of a record saying what could not be stored: never a poison
    batch that blocks the writer."""
    try:
        return _fields(raw)
    except Exception as exc:  # e.g. a caller's bad ``at``: keep the fact, not the batch stuck
        error: dict[str, DetailValue] = {
            "error": f"unstorable audit event: {exc}"[:200],
            "repr": repr(raw)[:1000],
        }
        return _fields(AuditEvent(raw.action, AuditOutcome.FAILED, detail=error))


# One encoder, built once: the canonical form's exact options (see the module docstring).
_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


def _canonical(seq: int, fields: Mapping[str, Any], prev: str) -> bytes:
    obj: dict[str, Any] = {
        "v": CANONICAL_VERSION,
        "seq": seq,
        "at": format_time(fields["at"]),
        "action": fields["action"],
        "outcome": fields["outcome"],
        "user": fields["username"],
        "user_id": fields["user_id"],
        "department": fields["department"],
        "channel": fields["channel_id"],
        "address": fields["address"],
        "purpose": fields["purpose"],
        "detail": fields["detail"],
        "prev": prev,
    }
    return _CANONICAL.encode(obj).encode("utf-8")


def canonical_bytes(record: AuditRecord) -> bytes:
    """The exact bytes hashed for ``record`` (its ``hash`` field is not part of them)."""
    fields = {
        "at": record.at,
        "action": record.action,
        "outcome": record.outcome,
        "username": record.username,
        "user_id": record.user_id,
        "department": record.department,
        "channel_id": record.channel_id,
        "address": record.address,
        "purpose": record.purpose,
        "detail": record.detail,
    }
    return _canonical(record.seq, fields, record.prev_hash)


def record_hash(record: AuditRecord) -> str:
    """SHA-256 of the canonical form, 64 lowercase hex digits."""
    return hashlib.sha256(canonical_bytes(record)).hexdigest()


def chain(head: ChainHead, events: list[AuditEvent]) -> tuple[list[AuditRecord], ChainHead]:
    """Link ``events`` after ``head``: the records to store and the new head."""
    records: list[AuditRecord] = []
    seq, prev = head.seq, head.hash
    sha256 = hashlib.sha256
    for raw in events:
        fields = _storable(raw)
        seq += 1
        digest = sha256(_canonical(seq, fields, prev)).hexdigest()
        records.append(AuditRecord(seq=seq, prev_hash=prev, hash=digest, **fields))
        prev = digest
    return records, ChainHead(seq, prev)


def anchor_key(server_key: bytes) -> bytes:
    """The anchor-signing key: HMAC of a fixed label under the server key (never stored)."""
    return hmac.new(server_key, _ANCHOR_KEY_LABEL, hashlib.sha256).digest()


def anchor_key_id(key: bytes) -> str:
    """A short public name of an anchor key, to tell "other key" from "forged"."""
    return hashlib.sha256(b"key-id:" + key).hexdigest()[:16]


def anchor_promise(anchor_every: int, batch_max: int) -> int:
    """How many records after an anchor the next one comes at the latest, with these settings."""
    return anchor_every + batch_max - 1


def _anchor_message(seq: int, digest: str, at: datetime, next_within: int | None) -> bytes:
    if next_within is None:
        return f"sightline-audit-anchor-v1\n{seq}\n{digest}\n{format_time(at)}".encode("ascii")
    return (f"sightline-audit-anchor-v2\n{seq}\n{digest}\n{format_time(at)}\n{next_within}").encode(
        "ascii"
    )


def sign_anchor(
    key: bytes, seq: int, digest: str, at: datetime, next_within: int | None = None
) -> AuditAnchor:
    """An anchor for record ``seq`` with hash ``digest``, signed with ``key``."""
    message = _anchor_message(seq, digest, at, next_within)
    signature = hmac.new(key, message, hashlib.sha256).hexdigest()
    return AuditAnchor(seq, digest, utc(at), anchor_key_id(key), signature, next_within)


def anchor_signature_ok(key: bytes, anchor: AuditAnchor) -> bool:
    """Whether ``anchor`` was signed with ``key`` and not changed since."""
    expected = sign_anchor(key, anchor.seq, anchor.hash, anchor.at, anchor.next_within)
    return hmac.compare_digest(expected.signature, anchor.signature)

"""The hash chain's pure core: canonical form, hashes, links, normalisation, anchors."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from sightline.access.audit_chain import (
    LIMITS,
    ChainHead,
    anchor_key,
    anchor_key_id,
    anchor_signature_ok,
    canonical_bytes,
    chain,
    format_time,
    normalise,
    record_hash,
    sign_anchor,
)
from sightline.access.audit_events import AuditAction, AuditEvent, AuditOutcome
from sightline.access.audit_verify import ChainVerifier, ProblemKind
from sightline.store.repositories.audit import GENESIS_HASH, AuditAnchor, AuditRecord

T0 = datetime(2026, 11, 25, 8, 30, 0, 123456, tzinfo=UTC)
KEY = anchor_key(b"server-key-for-tests-0123456789ab")


def event(**changes: object) -> AuditEvent:
    """A typical live-view record; ``changes`` override fields."""
    base = AuditEvent(
        AuditAction.LIVE_START,
        username="张三",
        user_id=7,
        department="交警支队",
        channel_id="34020000001320000001",
        address="192.0.2.10",
        purpose="incident 42",
        detail={"transport": "ws", "seconds": 1.5, "ok": True, "none": None},
        at=T0,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_canonical_form_is_sorted_compact_utf8_json_with_fixed_time() -> None:
    [record], _ = chain(ChainHead(), [event()])
    text = canonical_bytes(record).decode("utf-8")
    assert text == (
        '{"action":"live.start","address":"192.0.2.10","at":"2026-11-25T08:30:00.123456Z",'
        '"channel":"34020000001320000001","department":"交警支队",'
        '"detail":{"none":null,"ok":true,"seconds":1.5,"transport":"ws"},'
        '"outcome":"ok","prev":"' + GENESIS_HASH + '","purpose":"incident 42","seq":1,'
        '"user":"张三","user_id":7,"v":1}'
    )
    assert record.hash == hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_records_link_to_the_previous_hash_and_number_on() -> None:
    records, head = chain(ChainHead(), [event(), event(action=AuditAction.LIVE_STOP)])
    assert [r.seq for r in records] == [1, 2]
    assert records[0].prev_hash == GENESIS_HASH
    assert records[1].prev_hash == records[0].hash
    assert head == ChainHead(2, records[1].hash)
    more, head2 = chain(head, [event()])
    assert more[0].seq == 3
    assert more[0].prev_hash == records[1].hash
    assert head2.seq == 3


def test_every_field_is_covered_by_the_hash() -> None:
    [record], _ = chain(ChainHead(), [event()])
    changes: list[dict[str, object]] = [
        {"seq": 2},
        {"at": T0 + timedelta(microseconds=1)},
        {"action": "live.stop"},
        {"outcome": "denied"},
        {"username": "李四"},
        {"user_id": 8},
        {"department": "公安局"},
        {"channel_id": "34020000001320000002"},
        {"address": "192.0.2.11"},
        {"purpose": None},
        {"detail": {"transport": "http"}},
        {"prev_hash": "1" * 64},
    ]
    for change in changes:
        assert record_hash(replace(record, **change)) != record.hash, change  # type: ignore[arg-type]


def test_time_in_another_zone_or_naive_utc_hashes_the_same() -> None:
    shanghai = timezone(timedelta(hours=8))
    assert format_time(T0.astimezone(shanghai)) == "2026-11-25T08:30:00.123456Z"
    assert format_time(T0.replace(tzinfo=None)) == "2026-11-25T08:30:00.123456Z"
    assert format_time(T0.replace(microsecond=0)) == "2026-11-25T08:30:00.000000Z"


def test_normalise_makes_values_storable() -> None:
    long = "x" * 5000
    raw = event(
        username="a\x00b" + long,
        address=long,
        purpose=long,
        detail={"nan": math.nan, "inf": -math.inf, "nul": "a\x00", long: 1},
    )
    out = normalise(raw)
    assert out.username is not None
    assert out.username.startswith("a\ufffdb")
    assert len(out.username) == LIMITS.user
    assert out.address is not None
    assert len(out.address) == LIMITS.address
    assert out.purpose is not None
    assert len(out.purpose) == LIMITS.purpose
    assert out.detail["nan"] == "nan"
    assert out.detail["inf"] == "-inf"
    assert out.detail["nul"] == "a\ufffd"
    assert "x" * LIMITS.detail_key in out.detail
    [record], _ = chain(ChainHead(), [raw])
    json.loads(canonical_bytes(record))  # finite, valid JSON


def test_long_detail_keys_cut_to_the_same_prefix_are_all_kept() -> None:
    prefix = "k" * LIMITS.detail_key
    raw = event(detail={prefix + "a": 1, prefix + "b": 2, prefix + "c": 3})
    out = normalise(raw).detail
    assert sorted(out.values(), key=str) == [1, 2, 3]
    assert all(len(k) <= LIMITS.detail_key for k in out)
    assert normalise(raw).detail == out  # the same event stores the same keys every time


def test_detail_is_capped_in_items() -> None:
    raw = event(detail={f"k{i}": i for i in range(100)})
    assert len(normalise(raw).detail) == LIMITS.detail_items


_text = st.one_of(st.none(), st.text(max_size=80))
_detail_values = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=40)
)


@given(
    username=_text,
    department=_text,
    channel=_text,
    purpose=_text,
    detail=st.dictionaries(st.text(max_size=20), _detail_values, max_size=8),
    micros=st.integers(min_value=0, max_value=10**12),
)
def test_any_event_chains_to_valid_json_that_round_trips(
    *,
    username: str | None,
    department: str | None,
    channel: str | None,
    purpose: str | None,
    detail: dict[str, str | int | float | bool | None],
    micros: int,
) -> None:
    raw = event(
        username=username,
        department=department,
        channel_id=channel,
        purpose=purpose,
        detail=detail,
        at=T0 + timedelta(microseconds=micros),
    )
    [record], _ = chain(ChainHead(), [raw])
    parsed = json.loads(canonical_bytes(record))
    assert parsed["user"] == record.username
    assert parsed["detail"] == record.detail
    # what a database hands back (same values, JSON round trip of detail) hashes the same
    stored = replace(record, detail=json.loads(json.dumps(record.detail)))
    assert record_hash(stored) == record.hash
    assert ChainVerifier(KEY).feed([stored]) is None


def test_anchor_signature_covers_seq_hash_and_time() -> None:
    anchor = sign_anchor(KEY, 5, "a" * 64, T0)
    assert anchor.key_id == anchor_key_id(KEY)
    assert anchor_signature_ok(KEY, anchor)
    for change in ({"seq": 6}, {"hash": "b" * 64}, {"at": T0 + timedelta(seconds=1)}):
        assert not anchor_signature_ok(KEY, replace(anchor, **change))
    assert not anchor_signature_ok(anchor_key(b"another server key"), anchor)


def test_anchor_key_is_derived_not_the_server_key() -> None:
    server_key = b"k" * 32
    assert anchor_key(server_key) != server_key
    assert anchor_key(server_key) == anchor_key(server_key)
    assert len(anchor_key(server_key)) == 32


def test_verifier_accepts_a_good_chain_with_anchors() -> None:
    records, head = chain(ChainHead(), [event(detail={"i": i}) for i in range(10)])
    verifier = ChainVerifier(KEY)
    verifier.add_anchors([sign_anchor(KEY, r.seq, r.hash, T0) for r in records[4::5]])
    assert verifier.feed(records) is None
    assert verifier.finish() is None
    assert (verifier.records, verifier.anchors_checked, verifier.seq) == (10, 2, head.seq)


def test_verifier_names_each_kind_of_break() -> None:
    records, _ = chain(ChainHead(), [event(detail={"i": i}) for i in range(10)])
    anchors = [sign_anchor(KEY, r.seq, r.hash, T0) for r in records[4::5]]

    def first_problem(
        rows: list[AuditRecord], signed: list[AuditAnchor] = anchors
    ) -> tuple[int, str]:
        verifier = ChainVerifier(KEY)
        verifier.add_anchors(signed)
        problem = verifier.feed(rows) or verifier.finish()
        assert problem is not None
        return problem.seq, problem.kind

    edited = replace(records[2], channel_id="34020000001320000999")
    assert first_problem([*records[:2], edited, *records[3:]]) == (3, ProblemKind.HASH)
    assert first_problem([*records[:3], *records[4:]]) == (4, ProblemKind.GAP)
    rehashed = replace(edited, hash=record_hash(edited))
    assert first_problem([*records[:2], rehashed, *records[3:]]) == (3, ProblemKind.LINK)
    assert first_problem(records[:7]) == (8, ProblemKind.TRUNCATED)
    forged = [replace(anchors[0], signature="0" * 64), anchors[1]]
    assert first_problem(records, forged) == (5, ProblemKind.ANCHOR_SIGNATURE)
    other_key = anchor_key(b"other")
    assert first_problem(records, [sign_anchor(other_key, 5, records[4].hash, T0)]) == (
        5,
        ProblemKind.ANCHOR_KEY,
    )
    # a consistent rewrite from record 7 on: only the anchor at 10 can tell
    rewritten, _ = chain(
        ChainHead(6, records[5].hash),
        [event(detail={"i": i}, outcome=AuditOutcome.DENIED) for i in range(6, 10)],
    )
    assert first_problem([*records[:6], *rewritten]) == (10, ProblemKind.ANCHOR)

"""The audit spill file: its line format (round trip, damaged input) and reading in batches."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sightline.access.audit_events import AuditAction, AuditEvent, AuditOutcome
from sightline.access.audit_spill import AuditSpill, event_from_json, event_to_json

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
_text = st.one_of(st.none(), st.text(max_size=40))
_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)


@given(
    action=st.sampled_from(AuditAction),
    outcome=st.sampled_from(AuditOutcome),
    username=_text,
    user_id=st.one_of(st.none(), st.integers(min_value=0, max_value=2**62)),
    channel=_text,
    detail=st.dictionaries(st.text(max_size=10), _values, max_size=5),
    micros=st.integers(min_value=0, max_value=10**12),
)
def test_events_round_trip_through_a_line(
    *,
    action: AuditAction,
    outcome: AuditOutcome,
    username: str | None,
    user_id: int | None,
    channel: str | None,
    detail: dict[str, str | int | float | bool | None],
    micros: int,
) -> None:
    event = AuditEvent(
        action,
        outcome,
        username=username,
        user_id=user_id,
        channel_id=channel,
        address="192.0.2.1",
        purpose="p\n\x00q",
        detail=detail,
        at=T0 + timedelta(microseconds=micros),
    )
    line = event_to_json(event)
    assert "\n" not in line
    assert event_from_json(line) == event


_json = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
_FIELDS = ("action", "outcome", "username", "user_id", "department", "channel_id", "address")
_objects = st.dictionaries(
    st.sampled_from((*_FIELDS, "purpose", "detail", "at")), _json, max_size=10
).map(json.dumps)


@given(st.one_of(st.text(max_size=200), _objects))
def test_damaged_lines_raise_only_the_documented_errors(line: str) -> None:
    with contextlib.suppress(ValueError, KeyError, TypeError):
        event_from_json(line)


def test_reads_in_batches_skips_damaged_lines_and_clears(tmp_path: Path) -> None:
    spill = AuditSpill(tmp_path / "spill.jsonl")
    assert not spill.has_data()
    for i in range(5):
        spill.append(AuditEvent(AuditAction.PTZ, detail={"i": i}, at=T0))
    with spill.path.open("a", encoding="utf-8") as fh:
        fh.write("{not json\n")
    spill.append(AuditEvent(AuditAction.PTZ, detail={"i": 5}, at=T0))
    with spill.path.open("a", encoding="utf-8") as fh:
        fh.write('{"action": "ptz"')  # a line still being written: not read yet
    first, offset = spill.read(3)
    assert [e.detail["i"] for e in first] == [0, 1, 2]
    spill.consumed(offset)
    rest, offset = spill.read(100)
    assert [e.detail["i"] for e in rest] == [3, 4, 5]
    assert spill.damaged_lines == 1
    spill.consumed(offset)
    assert spill.has_data()  # the unfinished line
    spill.clear()
    assert not spill.has_data()
    assert spill.read(10) == ([], 0)
    spill.append(AuditEvent(AuditAction.LOGIN, at=T0))
    spill.close()
    assert [e.action for e in AuditSpill(spill.path).read(10)[0]] == [AuditAction.LOGIN]


def test_unknown_action_in_a_line_is_a_value_error() -> None:
    line = event_to_json(AuditEvent(AuditAction.PTZ, at=T0)).replace('"ptz"', '"teleport"')
    with pytest.raises(ValueError, match="teleport"):
        event_from_json(line)

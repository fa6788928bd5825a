"""Access units over a media worker's relay socket: records, their heads, and bad input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sightline.media.ps_format import Codec
from sightline.media.ps_frames import AccessUnit, TimestampOrigin
from sightline.media.unit_wire import (
    HEAD,
    MAX_PAYLOAD,
    UnitWireError,
    decode_end,
    decode_unit,
    encode_end,
    encode_unit,
    parse_head,
)

units = st.builds(
    AccessUnit,
    codec=st.sampled_from(list(Codec)),
    stream_id=st.integers(0, 255),
    pts_90k=st.integers(-(2**63), 2**63 - 1),
    dts_90k=st.integers(-(2**63), 2**63 - 1),
    data=st.binary(max_size=2000),
    keyframe=st.booleans(),
    origin=st.sampled_from(list(TimestampOrigin)),
    audio_declared=st.sampled_from([None, False, True]),
)


def _read(record: bytes) -> tuple[int, AccessUnit | dict[str, object]]:
    head = parse_head(record[: HEAD.size])
    payload = record[HEAD.size :]
    assert len(payload) == head.length
    return head.relay_id, decode_end(payload) if head.end else decode_unit(head, payload)


@given(st.integers(0, 2**32 - 1), units)
def test_a_unit_survives_the_round_trip(relay_id: int, unit: AccessUnit) -> None:
    assert _read(encode_unit(relay_id, unit)) == (relay_id, unit)


def test_an_end_record_carries_its_reason() -> None:
    reason = {"kind": "offline", "text": "device 3402 is offline", "status": None}
    assert _read(encode_end(7, reason)) == (7, reason)


def test_records_of_several_relays_follow_each_other_on_one_stream() -> None:
    unit = AccessUnit(Codec.H264, 0xE0, 3600, 3600, b"\x00\x00\x01\x65abc", True)
    stream = encode_unit(1, unit) + encode_end(2, {"kind": "ended", "text": "bye"})
    first = parse_head(stream[: HEAD.size])
    second_at = HEAD.size + first.length
    second = parse_head(stream[second_at : second_at + HEAD.size])
    assert (first.relay_id, first.end, second.relay_id, second.end) == (1, False, 2, True)


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ((1, b"Z", 0, 0, 0, 0, 0, 0, 0, 0), "kind"),
        ((1, b"U", 200, 0, 0, 0, 0, 0, 0, 0), "codec"),
        ((1, b"U", 0, 0, 0, 0, 0, 9, 0, 0), "origin"),
        ((1, b"U", 0, 0, 0, 0, 0, 0, 3, 0), "flag"),
        ((1, b"U", 0, 0, 0, 0, 2, 0, 0, 0), "flag"),  # a key frame flag of 2: not 0 or 1
        ((1, b"U", 0, 0, 0, 0, 0, 0, 0, MAX_PAYLOAD + 1), "bytes"),
    ],
)
def test_a_head_that_cannot_be_one_is_refused(fields: tuple[object, ...], words: str) -> None:
    with pytest.raises(UnitWireError, match=words):
        parse_head(HEAD.pack(*fields))


@pytest.mark.parametrize("payload", [b"not json", b"[1, 2]", b"\xff\xfe"])
def test_an_end_reason_that_is_not_an_object_is_refused(payload: bytes) -> None:
    with pytest.raises(UnitWireError):
        decode_end(payload)


@given(st.binary(min_size=HEAD.size, max_size=HEAD.size))
def test_any_head_bytes_parse_or_raise_the_typed_error(data: bytes) -> None:
    try:
        head = parse_head(data)
    except UnitWireError:
        return
    assert head.length <= MAX_PAYLOAD

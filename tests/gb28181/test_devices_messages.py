"""Pure helpers of the MESSAGE path: keepalive fast path, sender, alarm records, times."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from sightline.gb28181.device_messages import (
    alarm_record,
    from_device_time,
    plain_keepalive,
    sender_id,
    to_device_time,
)
from sightline.gb28181.manscdp import AlarmNotify, Keepalive, Result, decode, encode
from sightline.sip.headers import Headers
from sightline.sip.message import Request

DEV = "34020000001320000001"


def test_encoded_keepalives_take_the_fast_path() -> None:
    for charset in ("GB2312", "UTF-8"):
        for status in Result:
            body = encode(Keepalive(sn=7, device_id=DEV, status=status), charset)
            assert plain_keepalive(body)


def test_keepalive_with_fault_list_takes_the_full_decoder() -> None:
    body = encode(Keepalive(sn=7, device_id=DEV, status=Result.ERROR, fault_devices=(DEV,)))
    assert not plain_keepalive(body)
    decoded = decode(body)
    assert isinstance(decoded, Keepalive) and decoded.fault_devices == (DEV,)


def test_near_misses_are_not_keepalives() -> None:
    ok = (
        b"<Notify><CmdType>Keepalive</CmdType><SN>1</SN><DeviceID>1</DeviceID>"
        b"<Status>OK</Status></Notify>"
    )
    assert plain_keepalive(ok)
    assert not plain_keepalive(ok.replace(b"Notify>", b"Response>"))
    assert not plain_keepalive(ok.replace(b"Keepalive", b"Alarm"))
    assert not plain_keepalive(ok + b"<extra/>")
    assert not plain_keepalive(ok.replace(b"OK", b"FINE"))
    assert not plain_keepalive(b"<!DOCTYPE x>" + ok)


@given(st.binary(max_size=600))
def test_arbitrary_bytes_never_raise(body: bytes) -> None:
    assert plain_keepalive(body) in (True, False)


@given(st.integers(min_value=1, max_value=2**31 - 1), st.sampled_from(list(Result)))
def test_fast_path_agrees_with_the_decoder(sn: int, status: Result) -> None:
    body = encode(Keepalive(sn=sn, device_id=DEV, status=status))
    assert plain_keepalive(body)
    assert decode(body) == Keepalive(sn=sn, device_id=DEV, status=status)


def test_sender_is_the_from_user() -> None:
    request = Request(
        "MESSAGE", "sip:x@y", Headers([("From", f'"cam" <sip:{DEV}@3402000000>;tag=1')])
    )
    assert sender_id(request) == DEV
    assert sender_id(Request("MESSAGE", "sip:x@y", Headers([("From", "<sip:3402000000>")]))) is None
    assert sender_id(Request("MESSAGE", "sip:x@y")) is None


def test_alarm_record_keeps_the_channel_and_makes_time_aware() -> None:
    alarm = AlarmNotify(
        sn=3,
        device_id="34020000001340000001",
        alarm_priority=1,
        alarm_method=2,
        alarm_time=datetime(2024, 5, 1, 8, 0, 0),
        alarm_description="烟感",
    )
    at = datetime(2024, 5, 1, 0, 1, tzinfo=UTC)
    record = alarm_record(DEV, alarm, "<raw/>", at)
    assert record.channel_id == "34020000001340000001"
    assert record.alarm_time == datetime(2024, 5, 1, 0, 0, tzinfo=UTC)
    assert (record.description, record.raw, record.received_at) == ("烟感", "<raw/>", at)
    own = alarm_record(DEV, AlarmNotify(**{**vars(alarm), "device_id": DEV}), "", at)
    assert own.channel_id is None


def test_device_time_round_trip() -> None:
    aware = datetime(2024, 5, 1, 4, 0, tzinfo=UTC)
    local = to_device_time(aware)
    assert local == datetime(2024, 5, 1, 12, 0) and local.tzinfo is None
    assert from_device_time(local) == aware
    assert to_device_time(local) is local

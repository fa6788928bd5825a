"""Hostile and broken MANSCDP bodies: only typed errors, quickly, with the field named."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sightline.errors import SightlineError
from sightline.gb28181.errors import Gb28181Error
from sightline.gb28181.manscdp import (
    DEFAULT_LIMITS,
    Keepalive,
    LimitExceeded,
    Limits,
    ManscdpError,
    Message,
    Result,
    UnknownMessage,
    UnsafeXml,
    decode,
    encode,
)
from tests.fuzz.fuzz_manscdp import SEEDS, check_one, run
from tests.gb28181.manscdp_examples import MESSAGES

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<Notify><CmdType>Keepalive</CmdType><SN>1</SN><DeviceID>&lol9;</DeviceID>
<Status>OK</Status></Notify>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE Notify [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Notify><CmdType>Keepalive</CmdType><SN>1</SN><DeviceID>&xxe;</DeviceID>
<Status>OK</Status></Notify>"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE Notify SYSTEM "http://127.0.0.1:9/evil.dtd">
<Notify><CmdType>Keepalive</CmdType><SN>1</SN><DeviceID>1</DeviceID><Status>OK</Status></Notify>"""

PARAMETER_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE Notify [<!ENTITY % p SYSTEM "http://127.0.0.1:9/x"> %p;]>
<Notify><CmdType>Keepalive</CmdType><SN>1</SN><DeviceID>1</DeviceID><Status>OK</Status></Notify>"""


def _fast(body: bytes, error: type[ManscdpError], limits: Limits = DEFAULT_LIMITS) -> ManscdpError:
    started = time.perf_counter()
    with pytest.raises(error) as info:
        decode(body, limits=limits)
    assert time.perf_counter() - started < 2.0
    return info.value


@pytest.mark.parametrize("body", [BILLION_LAUGHS, EXTERNAL_ENTITY, EXTERNAL_DTD, PARAMETER_ENTITY])
def test_dtds_and_entities_are_refused(body: bytes) -> None:
    err = _fast(body, UnsafeXml)
    assert isinstance(err, Gb28181Error) and isinstance(err, SightlineError)


def test_ten_megabyte_body_is_refused_before_parsing() -> None:
    keepalive = encode(MESSAGES[0])
    body = keepalive[:-12] + b" " * (10 * 1024 * 1024) + keepalive[-12:]
    err = _fast(body, LimitExceeded)
    assert "exceeds" in str(err)


def test_body_limit_is_configurable() -> None:
    body = encode(Keepalive(sn=1, device_id="1", status=Result.OK))
    _fast(body, LimitExceeded, limits=Limits(max_body_bytes=len(body) - 1))
    assert isinstance(decode(body, limits=Limits(max_body_bytes=len(body))), Keepalive)


def test_deep_nesting_is_refused() -> None:
    body = b"<Notify><CmdType>X</CmdType>" + b"<a>" * 100_000 + b"</a>" * 100_000 + b"</Notify>"
    err = _fast(body, LimitExceeded)
    assert "deeper" in str(err)


def test_too_many_elements_is_refused() -> None:
    body = b"<Notify><CmdType>X</CmdType>" + b"<a/>" * 2_000 + b"</Notify>"
    _fast(body, LimitExceeded, limits=Limits(max_elements=1_000))
    assert decode(body, limits=Limits(max_elements=3_000)).command == "X"


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        (b"<Notify><SN>1</SN></Notify>", "CmdType", "missing"),
        (b"<Notify><CmdType>Keepalive</CmdType><DeviceID>1</DeviceID></Notify>", "SN", "missing"),
        (
            b"<Notify><CmdType>Keepalive</CmdType><SN>x1</SN><DeviceID>1</DeviceID></Notify>",
            "SN",
            "integer",
        ),
        (
            b"<Notify><CmdType>Keepalive</CmdType><SN>1</SN><DeviceID> </DeviceID>"
            b"<Status>OK</Status></Notify>",
            "DeviceID",
            "missing",
        ),
        (
            b"<Notify><CmdType>Keepalive</CmdType><SN>1</SN><DeviceID>1</DeviceID></Notify>",
            "Status",
            "missing",
        ),
        (
            b"<Notify><CmdType>Keepalive</CmdType><SN>1</SN><DeviceID>1</DeviceID>"
            b"<Status>MAYBE</Status></Notify>",
            "Status",
            "unexpected",
        ),
        (
            b"<Response><CmdType>Catalog</CmdType><SN>1</SN><DeviceID>1</DeviceID><SumNum>2"
            b"</SumNum><DeviceList><Item><DeviceID>2</DeviceID></Item><Item><DeviceID>3"
            b"</DeviceID><Port>80a</Port></Item></DeviceList></Response>",
            "DeviceList/Item[2]/Port",
            "integer",
        ),
        (
            b"<Response><CmdType>Catalog</CmdType><SN>1</SN><DeviceID>1</DeviceID>"
            b"<DeviceList/></Response>",
            "SumNum",
            "missing",
        ),
        (
            b"<Response><CmdType>Catalog</CmdType><SN>1</SN><DeviceID>1</DeviceID><SumNum>1"
            b"</SumNum><DeviceList><Item><Longitude>east</Longitude></Item></DeviceList></Response>",
            "DeviceList/Item[1]/DeviceID",
            "missing",
        ),
        (
            b"<Query><CmdType>RecordInfo</CmdType><SN>1</SN><DeviceID>1</DeviceID>"
            b"<StartTime>yesterday</StartTime><EndTime>2024-01-01T00:00:00</EndTime></Query>",
            "StartTime",
            "date-time",
        ),
        (
            b"<Control><CmdType>DeviceControl</CmdType><SN>1</SN><DeviceID>1</DeviceID>"
            b"<TeleBoot>Reboot</TeleBoot></Control>",
            "TeleBoot",
            "expected",
        ),
        (
            b"<Control><CmdType>DeviceControl</CmdType><SN>1</SN><DeviceID>1</DeviceID>"
            b"<HomePosition><Enabled>yes</Enabled></HomePosition></Control>",
            "HomePosition/Enabled",
            "flag",
        ),
        (
            b"<Notify><CmdType>Alarm</CmdType><SN>1</SN><DeviceID>1</DeviceID><AlarmPriority>1"
            b"</AlarmPriority><AlarmMethod>2</AlarmMethod><AlarmTime>2024-01-01T00:00:00"
            b"</AlarmTime><Longitude>nan</Longitude></Notify>",
            "Longitude",
            "number",
        ),
        (
            b"<Notify><CmdType>Foo</CmdType><SN>-1</SN></Notify>",
            "SN",
            "integer",
        ),
    ],
)
def test_field_errors_name_the_field(body: bytes, field: str, message: str) -> None:
    err = _fast(body, ManscdpError)
    assert err.field == field
    assert message in str(err) and field in str(err)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "no XML element"),
        (b"hello", "no XML element"),
        (b"<Other><CmdType>Keepalive</CmdType></Other>", "unknown root"),
        (b"<Notify><CmdType>Keepalive</CmdType></Response>", "malformed"),
        (b"<Notify><CmdType>Keepalive</CmdType>", "malformed"),
        (b"<Notify><<<</Notify>", "malformed"),
    ],
)
def test_broken_documents(body: bytes, message: str) -> None:
    err = _fast(body, ManscdpError)
    assert message in str(err)


def test_sanitiser_keeps_real_entities_and_repairs_others() -> None:
    body = (
        b"<Notify><CmdType>Keepalive</CmdType><SN>1</SN><DeviceID>a&amp;b&#65;&#x42;&nbsp;&"
        b"</DeviceID><Status>OK</Status></Notify>"
    )
    msg = decode(body)
    assert msg.device_id == "a&bAB&nbsp;&"


def test_control_characters_and_trailing_garbage_are_dropped() -> None:
    body = b"\x00\x00  <Notify><CmdType>Keep\x01alive</CmdType><SN>1</SN><DeviceID>1</DeviceID>"
    body += b"<Status>OK</Status></Notify>\x00\x00\xff\xfe<junk"
    assert isinstance(decode(body), Keepalive)


BODY_SIZES = st.binary(max_size=2_000)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(BODY_SIZES)
def test_arbitrary_bytes_raise_only_manscdp_error(body: bytes) -> None:
    try:
        msg = decode(body)
    except ManscdpError:
        return
    assert isinstance(msg, Message | UnknownMessage)


@st.composite
def mutated_bodies(draw: st.DrawFn) -> bytes:
    """A valid body with a few bytes overwritten, inserted or deleted."""
    body = bytearray(
        encode(draw(st.sampled_from(MESSAGES)), draw(st.sampled_from(["GB2312", "UTF-8"])))
    )
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(body) - 1))
        action = draw(st.sampled_from(["replace", "insert", "delete"]))
        byte = draw(st.integers(0, 255))
        if action == "replace":
            body[pos] = byte
        elif action == "insert":
            body.insert(pos, byte)
        else:
            del body[pos]
    return bytes(body)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_bodies())
def test_mutated_valid_bodies_decode_or_raise_only_manscdp_error(body: bytes) -> None:
    try:
        msg = decode(body)
    except ManscdpError:
        return
    # Whatever decodes must encode again and decode to the same model.
    assert decode(encode(msg, "UTF-8"), "UTF-8") == msg


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_arbitrary_text_inside_an_envelope_raises_only_manscdp_error(text: str) -> None:
    body = f"<Response><CmdType>Catalog</CmdType><SN>1</SN><DeviceID>1</DeviceID>{text}</Response>"
    try:
        msg = decode(body.encode("utf-8", errors="surrogatepass"))
    except ManscdpError:
        return
    assert msg.command == "Catalog"


def test_fuzz_target_runs_clean_for_a_moment() -> None:
    for seed in SEEDS:
        check_one(seed)
    assert run(seconds=0.5, seed=123) > 100

"""StreamFramer: SIP over TCP/TLS (RFC 3261 §7.5, §18.3; RFC 5626 keep-alives)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sightline.sip.errors import MessageTooLarge, SipParseError, VersionNotSupported
from sightline.sip.framing import FramedParseError, StreamFramer
from sightline.sip.message import Request, Response
from sightline.sip.parser import Limits, error_response, parse_message, serialize
from tests.sip.test_parser import REGISTER, sip_messages

Item = Request | Response | SipParseError

MESSAGE = (
    b"MESSAGE sip:34020000002000000001@3402000000 SIP/2.0\r\n"
    b"Via: SIP/2.0/TCP 192.168.1.64:5060;branch=z9hG4bK1\r\n"
    b"From: <sip:34020000001320000001@3402000000>;tag=1\r\n"
    b"To: <sip:34020000002000000001@3402000000>\r\n"
    b"Call-ID: k1\r\n"
    b"CSeq: 20 MESSAGE\r\n"
    b"Content-Type: Application/MANSCDP+xml\r\n"
    b"Content-Length: 12\r\n"
    b"\r\n"
    b"<N/>\r\n\r\n<M/>"
)


def _feed_all(framer: StreamFramer, data: bytes, cuts: list[int]) -> list[Item]:
    items: list[Item] = []
    last = 0
    for cut in [*sorted(set(cuts)), len(data)]:
        items += framer.feed(data[last:cut])
        last = cut
    return items


def test_one_message_in_one_chunk() -> None:
    framer = StreamFramer()
    assert framer.feed(MESSAGE) == [parse_message(MESSAGE)]
    assert not framer.broken


def test_body_holding_an_empty_line_is_framed_by_content_length() -> None:
    (item,) = StreamFramer().feed(MESSAGE)
    assert isinstance(item, Request)
    assert item.body == b"<N/>\r\n\r\n<M/>"


def test_split_at_every_byte_boundary() -> None:
    stream = MESSAGE + b"\r\n\r\n" + REGISTER.encode() + MESSAGE
    expected = [parse_message(MESSAGE), parse_message(REGISTER.encode()), parse_message(MESSAGE)]
    for cut in range(1, len(stream)):
        framer = StreamFramer()
        assert framer.feed(stream[:cut]) + framer.feed(stream[cut:]) == expected, cut
        assert framer.pings == 1


def test_fed_one_byte_at_a_time() -> None:
    framer = StreamFramer()
    stream = MESSAGE * 3
    items = _feed_all(framer, stream, list(range(len(stream))))
    assert items == [parse_message(MESSAGE)] * 3


def test_many_messages_in_one_chunk() -> None:
    framer = StreamFramer()
    items = framer.feed(MESSAGE * 2000)
    assert len(items) == 2000
    assert all(item == items[0] for item in items)
    assert framer.feed(b"") == []


def test_double_crlf_is_a_ping_single_crlf_a_pong() -> None:
    framer = StreamFramer()
    assert framer.feed(b"\r\n\r\n") == []
    assert (framer.pings, framer.pongs) == (1, 0)
    assert framer.feed(b"\r\n\r\n\r\n\r\n") == []
    assert framer.pings == 3
    assert framer.feed(b"\r\n" + MESSAGE) == [parse_message(MESSAGE)]
    assert (framer.pings, framer.pongs) == (3, 1)


def test_a_ping_split_across_reads_is_still_one_ping() -> None:
    framer = StreamFramer()
    for piece in (b"\r", b"\n", b"\r", b"\n"):
        assert framer.feed(piece) == []
    assert (framer.pings, framer.pongs) == (1, 0)
    assert framer.feed(b"\r\n") == []  # could be the start of the next ping: undecided yet
    assert framer.pongs == 0
    assert framer.feed(MESSAGE) == [parse_message(MESSAGE)]
    assert framer.pongs == 1


def test_compact_and_folded_content_length() -> None:
    compact = MESSAGE.replace(b"Content-Length: 12", b"l  :   12")
    folded = MESSAGE.replace(b"Content-Length: 12", b"content-LENGTH:\r\n 12")
    for variant in (compact, folded):
        assert StreamFramer().feed(variant) == [parse_message(variant)]


def test_repeated_equal_content_length_frames() -> None:
    doubled = MESSAGE.replace(b"Content-Length: 12", b"Content-Length: 12\r\nl: 012")
    (item,) = StreamFramer().feed(doubled)
    assert isinstance(item, Request)
    assert item.headers.get_all("Content-Length") == ["12"]


def test_bad_message_with_good_framing_yields_an_error_and_framing_continues() -> None:
    bad = MESSAGE.replace(b"CSeq: 20 MESSAGE", b"CSeq: 20 INVITE")
    framer = StreamFramer()
    first, second = framer.feed(bad + MESSAGE)
    assert isinstance(first, FramedParseError)
    assert first.status == 400 and "CSeq" in str(first)
    assert first.raw == bad
    assert second == parse_message(MESSAGE)
    assert not framer.broken
    response = error_response(first.raw, first)
    assert response is not None and response.status == 400


def test_framed_error_keeps_the_cause() -> None:
    bad = MESSAGE.replace(b"SIP/2.0\r\n", b"SIP/3.0\r\n", 1)
    (item,) = StreamFramer().feed(bad)
    assert isinstance(item, FramedParseError)
    assert isinstance(item.cause, VersionNotSupported)
    assert (item.status, item.reason) == (505, "Version Not Supported")


@pytest.mark.parametrize(
    "head",
    [
        b"Content-Length: 12",  # removed below: missing
        b"Content-Length: -12",
        b"Content-Length: twelve",
        b"Content-Length: 12\r\nl: 13",
        b"Content-Length: 99999999999",
        b"Content-Length: 2000000",
    ],
)
def test_unrecoverable_framing_breaks_the_stream(head: bytes) -> None:
    data = MESSAGE.replace(
        b"Content-Length: 12\r\n", b"" if head == b"Content-Length: 12" else head + b"\r\n"
    )
    framer = StreamFramer()
    (item,) = framer.feed(data + MESSAGE)
    assert isinstance(item, FramedParseError)
    assert framer.broken
    assert framer.feed(MESSAGE) == []
    assert framer.feed(b"\r\n\r\n") == []
    assert framer.pings == 0


def test_missing_content_length_can_still_be_answered() -> None:
    data = MESSAGE.replace(b"Content-Length: 12\r\n", b"")
    (item,) = StreamFramer().feed(data)
    assert isinstance(item, FramedParseError)
    assert "Content-Length" in str(item)
    response = error_response(item.raw, item)
    assert response is not None and response.status == 400


def test_header_section_without_end_breaks_at_the_limit() -> None:
    framer = StreamFramer(Limits(max_header_bytes=1000))
    assert framer.feed(b"MESSAGE sip:a@b SIP/2.0\r\n") == []
    items: list[Item] = []
    for _ in range(40):
        items += framer.feed(b"X-Filler: " + b"y" * 30 + b"\r\n")
    (item,) = items
    assert isinstance(item, FramedParseError)
    assert isinstance(item.cause, MessageTooLarge)
    assert framer.broken


def test_header_section_ending_past_the_limit_breaks() -> None:
    framer = StreamFramer(Limits(max_header_bytes=100))
    (item,) = framer.feed(MESSAGE)
    assert isinstance(item, FramedParseError)
    assert framer.broken


def test_message_over_the_size_limit_breaks() -> None:
    framer = StreamFramer(Limits(max_message_bytes=300))
    (item,) = framer.feed(MESSAGE.replace(b"Content-Length: 12", b"Content-Length: 200"))
    assert isinstance(item, FramedParseError)
    assert item.status == 513
    assert framer.broken


def test_waits_for_the_whole_body() -> None:
    framer = StreamFramer()
    assert framer.feed(MESSAGE[:-5]) == []
    assert framer.feed(MESSAGE[-5:]) == [parse_message(MESSAGE)]


# --- properties ---------------------------------------------------------------------------------


@given(
    st.lists(sip_messages(), min_size=1, max_size=4),
    st.lists(st.integers(0, 5000), max_size=12),
    st.lists(st.sampled_from([b"", b"\r\n\r\n"]), min_size=4, max_size=4),
)
def test_random_chunking_gives_the_same_messages(
    messages: list[Request | Response], cuts: list[int], pings: list[bytes]
) -> None:
    stream = b"".join(ping + serialize(m) for ping, m in zip(pings, messages, strict=False))
    framer = StreamFramer()
    items = _feed_all(framer, stream, [c % (len(stream) + 1) for c in cuts])
    assert items == messages
    assert framer.pings == sum(1 for p in pings[: len(messages)] if p)


@given(st.binary(max_size=400), st.lists(st.integers(0, 400), max_size=10))
def test_arbitrary_bytes_in_arbitrary_chunks_yield_only_typed_items(
    data: bytes, cuts: list[int]
) -> None:
    framer = StreamFramer()
    items = _feed_all(framer, data, [c % (len(data) + 1) for c in cuts])
    for item in items:
        assert isinstance(item, Request | Response | SipParseError)
    once = StreamFramer().feed(data)
    assert [type(i) for i in once] == [type(i) for i in items]


@given(sip_messages(), st.binary(max_size=20), st.integers(0, 10_000))
def test_garbage_inside_a_stream_raises_nothing(
    message: Request | Response, garbage: bytes, where: int
) -> None:
    wire = bytearray(serialize(message) * 2)
    at = where % (len(wire) + 1)
    wire[at:at] = garbage
    items = StreamFramer().feed(bytes(wire))
    assert all(isinstance(i, Request | Response | SipParseError) for i in items)

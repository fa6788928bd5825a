"""The sans-IO RTSP codec: framing, limits, round trips, and what arbitrary bytes may raise."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sightline.media import rtsp
from sightline.media.rtsp import (
    InterleavedFrame,
    RtspError,
    RtspParseError,
    RtspReader,
    RtspRequest,
    RtspResponse,
    parse_response,
)
from tests.fuzz.fuzz_rtsp import SEEDS, check_one, run

FFMPEG_DESCRIBE = (
    b"DESCRIBE rtsp://127.0.0.1:8554/live/34020000001320000001?token=abc RTSP/1.0\r\n"
    b"Accept: application/sdp\r\nCSeq: 2\r\nUser-Agent: Lavf61.7.100\r\n\r\n"
)


def test_a_request_from_ffmpeg_parses() -> None:
    (request,) = RtspReader().feed(FFMPEG_DESCRIBE)
    assert isinstance(request, RtspRequest)
    assert request.method == "DESCRIBE" and request.cseq == 2
    assert request.uri.endswith("?token=abc") and request.header("user-agent") == "Lavf61.7.100"


def test_requests_and_interleaved_frames_split_at_any_byte() -> None:
    body = b"param: x\r\n"
    stream = (
        FFMPEG_DESCRIBE
        + bytes(InterleavedFrame(1, b"\x81\xc9\x00\x07" + bytes(28)))
        + b"\r\n"  # a stray line end between messages is allowed
        + b"SET_PARAMETER rtsp://h/live/1 RTSP/1.0\r\nCSeq: 3\r\nContent-Length: 10\r\n\r\n"
        + body
    )
    whole = RtspReader().feed(stream)
    for cut in range(len(stream) + 1):
        reader = RtspReader()
        assert reader.feed(stream[:cut]) + reader.feed(stream[cut:]) == whole
    assert [type(i).__name__ for i in whole] == ["RtspRequest", "InterleavedFrame", "RtspRequest"]
    last = whole[2]
    assert isinstance(last, RtspRequest) and last.body == body


def test_bare_lf_line_ends_are_accepted() -> None:
    (request,) = RtspReader().feed(b"OPTIONS * RTSP/1.0\nCSeq: 9\n\n")
    assert isinstance(request, RtspRequest) and request.cseq == 9


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        (b"OPTIONS * RTSP/2.0\r\nCSeq: 1\r\n\r\n", 505),
        (b"OPTIONS  * RTSP/1.0\r\nCSeq: 1\r\n\r\n", 400),
        (b"OPTIONS * RTSP/1.0\r\nCSeq 1\r\n\r\n", 400),
        (b"OPTIONS * RTSP/1.0\r\n folded: header\r\n\r\n", 400),
        (b"OPTIONS * RTSP/1.0\r\nX: a\x01b\r\n\r\n", 400),
        (b"OPTIONS * RTSP/1.0\r\nX: \xff\xfe\r\n\r\n", 400),
        (b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nContent-Length: -1\r\n\r\n", 400),
        (b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nContent-Length: 99999\r\n\r\n", 413),
        (b"OPTIONS * RTSP/1.0\r\n" + b"X: y\r\n" * 65 + b"\r\n", 400),
        (b"OPTIONS * RTSP/1.0\r\nX: " + b"a" * 9000 + b"\r\n\r\n", 413),
        (b"OPTIONS * RTSP/1.0\r\nX: " + b"a" * 9000, 413),
    ],
)
def test_unframeable_input_is_rejected_with_a_status(data: bytes, status: int) -> None:
    with pytest.raises(RtspParseError) as caught:
        RtspReader().feed(data)
    assert caught.value.status == status


def test_parse_errors_keep_the_cseq_when_they_can() -> None:
    with pytest.raises(RtspParseError) as caught:
        RtspReader().feed(b"OPTIONS * RTSP/1.1\r\nCSeq: 41\r\n\r\n")
    assert caught.value.cseq == 41


def test_unknown_methods_and_bad_cseq_parse_for_the_session_to_answer() -> None:
    (request,) = RtspReader().feed(b"BREW rtsp://h/pot RTSP/1.0\r\nCSeq: x\r\n\r\n")
    assert isinstance(request, RtspRequest)
    assert request.method == "BREW" and request.cseq is None


def test_a_partial_head_is_bounded() -> None:
    reader = RtspReader()
    reader.feed(b"OPTIONS * RTSP/1.0\r\nX: " + b"a" * 8000)
    assert reader.buffered_bytes <= rtsp.MAX_HEAD_BYTES
    with pytest.raises(RtspParseError):
        reader.feed(b"a" * 1000)


def test_responses_serialise_with_content_length() -> None:
    response = RtspResponse(200, "OK", (("CSeq", "3"), ("Content-Type", "application/sdp")), b"v=0")
    wire = bytes(response)
    assert wire.startswith(b"RTSP/1.0 200 OK\r\nCSeq: 3\r\n") and b"Content-Length: 3\r\n" in wire
    parsed = parse_response(wire)
    assert parsed.body == b"v=0" and parsed.status == 200 and parsed.header("cseq") == "3"


def test_interleaved_frames_check_their_fields() -> None:
    with pytest.raises(RtspError):
        bytes(InterleavedFrame(256, b""))
    with pytest.raises(RtspError):
        bytes(InterleavedFrame(0, bytes(70000)))


_token = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ_", min_size=1, max_size=16)
_value = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40
)
_headers = st.lists(
    st.tuples(_token.filter(lambda n: n.lower() != "content-length"), _value), max_size=10
)


@settings(max_examples=200)
@given(
    method=_token,
    uri=st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1),
    headers=_headers,
    body=st.binary(max_size=200),
)
def test_requests_round_trip(
    method: str, uri: str, headers: list[tuple[str, str]], body: bytes
) -> None:
    request = RtspRequest(method, uri[:200], tuple(headers), body)
    wire = bytes(request)
    (parsed,) = RtspReader().feed(wire)
    expected_headers = tuple(headers) + ((("Content-Length", str(len(body))),) if body else ())
    assert parsed == RtspRequest(method, uri[:200], expected_headers, body)


@settings(max_examples=200)
@given(status=st.integers(100, 999), reason=st.text(max_size=30), headers=_headers)
def test_responses_round_trip(status: int, reason: str, headers: list[tuple[str, str]]) -> None:
    reason = "".join(c for c in reason if c >= " " and c != "\x7f").strip()
    response = RtspResponse(status, reason, tuple(headers))
    assert parse_response(bytes(response)) == response


@settings(max_examples=500)
@given(chunks=st.lists(st.binary(max_size=600), max_size=8))
def test_arbitrary_bytes_raise_only_the_typed_error(chunks: list[bytes]) -> None:
    reader = RtspReader()
    try:
        for chunk in chunks:
            for item in reader.feed(chunk):
                assert isinstance(item, RtspRequest | InterleavedFrame)
    except RtspParseError as exc:
        assert exc.status in rtsp.REASONS
    assert reader.buffered_bytes <= rtsp.MAX_HEAD_BYTES + rtsp.MAX_BODY_BYTES + 65540


@settings(max_examples=300)
@given(data=st.binary(max_size=400))
def test_arbitrary_responses_raise_only_the_typed_error(data: bytes) -> None:
    try:
        response = parse_response(data)
    except RtspParseError:
        return
    assert parse_response(bytes(response)) == response


def test_fuzz_seeds_pass_and_the_target_runs_clean_briefly() -> None:
    for seed in SEEDS:
        (first, *_) = RtspReader().feed(seed)
        assert isinstance(first, RtspRequest | InterleavedFrame)
        check_one(seed, [len(seed) // 2])
    assert run(0.5, seed=3) > 0

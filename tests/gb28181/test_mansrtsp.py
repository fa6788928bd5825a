"""MANSRTSP playback control (Annex B) and the end-of-file MediaStatus notify."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sightline.gb28181.manscdp import Keepalive, MediaStatusNotify, Result, decode, encode
from sightline.gb28181.mansrtsp import (
    CONTENT_TYPE,
    MansrtspError,
    MansrtspRequest,
    MansrtspResponse,
    Method,
    NptRange,
    PlaybackControl,
    RtpInfo,
    end_of_file_notify,
    is_end_of_file,
    parse,
)
from tests.fuzz.fuzz_sdp import MANSRTSP_SEEDS, check_one


def test_control_builds_annex_b_requests_with_own_cseq() -> None:
    control = PlaybackControl(start_cseq=5)
    assert bytes(control.resume()) == b"PLAY RTSP/1.0\r\nCSeq: 5\r\nRange: npt=now-\r\n\r\n"
    assert bytes(control.pause()) == b"PAUSE RTSP/1.0\r\nCSeq: 6\r\nPauseTime: now\r\n\r\n"
    assert bytes(control.speed(2)) == b"PLAY RTSP/1.0\r\nCSeq: 7\r\nScale: 2.0\r\n\r\n"
    assert bytes(control.seek(100)) == b"PLAY RTSP/1.0\r\nCSeq: 8\r\nRange: npt=100-\r\n\r\n"
    assert bytes(control.teardown()) == b"TEARDOWN RTSP/1.0\r\nCSeq: 9\r\n\r\n"


@pytest.mark.parametrize(
    ("scale", "text"),
    [(0.25, "0.25"), (0.5, "0.5"), (1, "1.0"), (4, "4.0"), (8, "8.0"), (-1, "-1.0")],
)
def test_speeds(scale: float, text: str) -> None:
    request = PlaybackControl().speed(scale)
    assert f"Scale: {text}\r\n".encode() in bytes(request)
    assert request.range is None
    assert parse(bytes(request)) == request


def test_seek_keeps_milliseconds() -> None:
    request = PlaybackControl().seek(12.3456)
    assert b"Range: npt=12.346-\r\n" in bytes(request)
    assert request.range == NptRange(12.346)


@pytest.mark.parametrize("bad", [0, math.nan, math.inf, 65, -100, 0.001])
def test_bad_speeds_are_refused(bad: float) -> None:
    with pytest.raises(MansrtspError):
        PlaybackControl().speed(bad)


@pytest.mark.parametrize("bad", [-1, math.nan, 2e9])
def test_bad_seeks_are_refused(bad: float) -> None:
    with pytest.raises(MansrtspError):
        PlaybackControl().seek(bad)


def test_cseq_wraps_and_is_validated() -> None:
    control = PlaybackControl(start_cseq=2**32 - 1)
    assert control.pause().cseq == 2**32 - 1
    assert control.pause().cseq == 1
    with pytest.raises(MansrtspError):
        PlaybackControl(start_cseq=-1)


def test_standard_2016_example_with_mansrtsp_version() -> None:
    request = parse(b"PLAY MANSRTSP/1.0\r\nCSeq: 5\r\nScale: 1.0\r\nRange: npt=196-\r\n")
    assert isinstance(request, MansrtspRequest)
    assert (request.method, request.cseq, request.scale) == (Method.PLAY, 5, 1.0)
    assert request.range == NptRange(196)
    assert request.version == "MANSRTSP/1.0"
    assert parse(bytes(request)) == request


def test_2022_spellings_and_spacing() -> None:
    request = parse("PLAY RTsP/1.0\ncseq :  3\nscale :  2.0\n")
    assert isinstance(request, MansrtspRequest)
    assert (request.cseq, request.scale, request.version) == (3, 2.0, "RTSP/1.0")
    paused = parse("PAUSE RTSP/1.0\r\ncSeq: 1\r\nPauseTime:  noW\r\n")
    assert isinstance(paused, MansrtspRequest) and paused.pause_time == "now"
    resumed = parse("PLAY RTSP/1.0\r\nCSeq:2\r\nRange: npt= noW-\r\n")
    assert isinstance(resumed, MansrtspRequest) and resumed.range == NptRange()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("npt=now-", NptRange()),
        ("npt=100-", NptRange(100)),
        ("npt=0-", NptRange(0)),
        ("npt=600-120", NptRange(600, 120)),  # reverse play from 600 s down to 120 s (2022)
        ("npt=12.5-", NptRange(12.5)),
        ("npt=00:01:40-", NptRange(100)),
        ("npt=1:02:03.5-", NptRange(3723.5)),
        ("now-", NptRange()),
        ("npt=100", NptRange(100)),
        (" NPT = now - 30 ", NptRange(None, 30)),
    ],
)
def test_npt_ranges(text: str, expected: NptRange) -> None:
    assert NptRange.parse(text) == expected
    assert NptRange.parse(str(expected)) == expected


@pytest.mark.parametrize("text", ["smpte=10:07:00-", "npt=-5-", "npt=abc-", "npt=1:99:00-"])
def test_bad_npt_ranges(text: str) -> None:
    with pytest.raises(MansrtspError):
        NptRange.parse(text)


def test_response_with_rtp_info() -> None:
    body = (
        b"RTSP/1.0 200 OK\r\nCSeq: 6\r\nRange: npt=100-\r\n"
        b"RTP-Info: seq=18139;rtptime=3119600838\r\n"
    )
    response = parse(body)
    assert isinstance(response, MansrtspResponse)
    assert response.ok and response.status == 200 and response.reason == "OK"
    assert response.cseq == 6 and response.range == NptRange(100)
    assert response.rtp_info == RtpInfo(seq=18139, rtptime=3119600838)
    assert parse(bytes(response)) == response


def test_response_variants() -> None:
    response = parse(
        "RTSP/1.0 457 Invalid Range\nScale: -1.0\nRTP-Info: url=rtsp://x/track1;seq=1, url=y"
    )
    assert isinstance(response, MansrtspResponse)
    assert not response.ok and response.cseq is None and response.scale == -1.0
    assert response.rtp_info == RtpInfo(seq=1, url="rtsp://x/track1")
    bare = parse(b"RTSP/1.0 200\r\nRTP-Info: foo=bar\r\n")
    assert isinstance(bare, MansrtspResponse) and bare.reason == "" and bare.rtp_info is None
    assert parse(bytes(bare)) == bare


def test_extra_headers_are_kept() -> None:
    request = parse(b"TEARDOWN RTSP/1.0\r\nCSeq: 9\r\nSession: 1234\r\nX-Vendor: a b\r\n")
    assert isinstance(request, MansrtspRequest)
    assert request.headers == (("Session", "1234"), ("X-Vendor", "a b"))
    assert parse(bytes(request)) == request


def test_first_of_repeated_known_headers_wins() -> None:
    request = parse(b"PLAY RTSP/1.0\r\nCSeq: 1\r\nCSeq: 2\r\nScale: 2\r\n")
    assert isinstance(request, MansrtspRequest) and request.cseq == 1 and request.scale == 2.0


def test_body_after_blank_line_is_ignored() -> None:
    request = parse(b"PAUSE RTSP/1.0\r\nCSeq: 1\r\nPauseTime: now\r\n\r\nnot: headers\r\n")
    assert isinstance(request, MansrtspRequest) and request.headers == ()


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"OPTIONS RTSP/1.0\r\nCSeq: 1\r\n",
        b"PLAY HTTP/1.1\r\nCSeq: 1\r\n",
        b"PLAY RTSP/1.0 extra\r\nCSeq: 1\r\n",
        b"PLAY RTSP/1.0\r\nRange: npt=now-\r\n",
        b"PLAY RTSP/1.0\r\nCSeq: one\r\n",
        b"PLAY RTSP/1.0\r\nCSeq: 99999999999\r\n",
        b"PLAY RTSP/1.0\r\nCSeq: 1\r\nRange npt=196-\r\n",
        b"PLAY RTSP/1.0\r\nCSeq: 1\r\nRange: smpte=0:10:00-\r\n",
        b"PLAY RTSP/1.0\r\nCSeq: 1\r\nScale: fast\r\n",
        b"PLAY RTSP/1.0\r\nCSeq: 1\r\nScale: 0\r\n",
        b"PLAY RTSP/1.0\r\nCSeq: 1\r\nScale: 1e3\r\n",
        b"PAUSE RTSP/1.0\r\nCSeq: 1\r\nPauseTime: a b\r\n",
        b"RTSP/1.0 2000 OK\r\n",
        b"RTSP/1.0 099 Odd\r\n",
        b"RTSP/1.0 200 OK\r\nRTP-Info: seq=-1\r\n",
        b"PLAY RTSP/1.0\r\nCSeq: 1\r\n" + b"X-A: 1\r\n" * 40,
        b"PLAY RTSP/1.0\r\nCSeq: 1\r\nX: " + b"a" * 5000 + b"\r\n",
        b"\x80\xff\x80\xff",
    ],
)
def test_garbage_raises_mansrtsp_error(body: bytes) -> None:
    with pytest.raises(MansrtspError):
        parse(body)


@pytest.mark.parametrize(
    "build",
    [
        lambda: MansrtspRequest(Method.PLAY, -1),
        lambda: MansrtspRequest(Method.PLAY, 1, version="HTTP/1.1"),
        lambda: MansrtspRequest(Method.PAUSE, 1, pause_time=""),
        lambda: MansrtspResponse(99),
        lambda: MansrtspResponse(200, "OK\r\nX: injected"),
        RtpInfo,
        lambda: RtpInfo(url="a;b"),
        lambda: RtpInfo(url=" x"),
        lambda: MansrtspResponse(200, version="RTSP/one"),
    ],
)
def test_models_refuse_what_cannot_be_written(build: object) -> None:
    with pytest.raises(MansrtspError):
        build()  # type: ignore[operator]


@pytest.mark.parametrize(
    "headers",
    [
        (("CSeq", "2"),),
        (("Bad Name", "x"),),
        (("X", "a\r\nb"),),
        (("X", " pad"),),
        (("X", "\ud800"),),
    ],
)
def test_extra_headers_must_be_writable(headers: tuple[tuple[str, str], ...]) -> None:
    with pytest.raises(MansrtspError):
        bytes(MansrtspRequest(Method.TEARDOWN, 1, headers=headers))


def test_content_type() -> None:
    assert CONTENT_TYPE.lower() == "application/mansrtsp"


# --- end of file ---------------------------------------------------------------------------------


def test_end_of_file_notify_round_trips_through_manscdp() -> None:
    notify = end_of_file_notify("34020000001320000001", sn=7)
    body = encode(notify, "GB2312")
    assert b"<NotifyType>121</NotifyType>" in body and b"<CmdType>MediaStatus</CmdType>" in body
    decoded = decode(body)
    assert decoded == notify and is_end_of_file(decoded)


def test_device_style_end_of_file_body() -> None:
    body = (
        b'<?xml version="1.0" encoding="GB2312"?>\r\n<Notify>\r\n<CmdType>MediaStatus</CmdType>'
        b"\r\n<SN>211</SN>\r\n<DeviceID>34020000001320000001</DeviceID>\r\n"
        b"<NotifyType>121</NotifyType>\r\n</Notify>\r\n"
    )
    assert is_end_of_file(decode(body))


def test_other_messages_are_not_end_of_file() -> None:
    assert not is_end_of_file(MediaStatusNotify(sn=1, device_id="1", notify_type="122"))
    assert not is_end_of_file(Keepalive(sn=1, device_id="1", status=Result.OK))
    assert not is_end_of_file(b"<NotifyType>121</NotifyType>")


# --- properties ----------------------------------------------------------------------------------

_MS = st.integers(0, 10**12).map(lambda ms: ms / 1000)
_RANGES = st.builds(NptRange, st.none() | _MS, st.none() | _MS)
_SCALES = st.floats(1 / 64, 64) | st.floats(-64, -1 / 64)
_CSEQS = st.integers(0, 2**32 - 1)
_HEADER_NAMES = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,20}", fullmatch=True).filter(
    lambda n: n.lower() not in {"cseq", "range", "scale", "pausetime", "rtp-info"}
)
_VALUES = st.text(
    st.characters(exclude_categories=["Cs", "Cc"], exclude_characters="\x7f"), max_size=20
).filter(lambda v: v == v.strip())
_HEADERS = st.lists(st.tuples(_HEADER_NAMES, _VALUES), max_size=3).map(tuple)
_VERSIONS = st.sampled_from(["RTSP/1.0", "MANSRTSP/1.0"])
REQUESTS = st.builds(
    MansrtspRequest,
    st.sampled_from(Method),
    _CSEQS,
    st.none() | _RANGES,
    st.none() | _SCALES,
    st.none() | st.from_regex(r"[!-~]{1,10}", fullmatch=True),
    _HEADERS,
    _VERSIONS,
)
_RTP_INFOS = (
    st.tuples(
        st.none() | _CSEQS,
        st.none() | _CSEQS,
        st.none() | st.from_regex(r"rtsp://[a-z0-9./]{1,20}", fullmatch=True),
    )
    .filter(lambda parts: parts != (None, None, None))
    .map(lambda parts: RtpInfo(*parts))
)
RESPONSES = st.builds(
    MansrtspResponse,
    st.integers(100, 999),
    _VALUES,
    st.none() | _CSEQS,
    st.none() | _RANGES,
    st.none() | _SCALES,
    st.none() | _RTP_INFOS,
    _HEADERS,
    _VERSIONS,
)


@given(REQUESTS | RESPONSES)
@settings(max_examples=300)
def test_round_trip(message: MansrtspRequest | MansrtspResponse) -> None:
    assert parse(bytes(message)) == message


@given(st.binary(max_size=1024))
@settings(max_examples=500)
def test_arbitrary_bytes_raise_only_mansrtsp_error(data: bytes) -> None:
    try:
        message = parse(data)
    except MansrtspError:
        return
    assert parse(bytes(message)) == message


_RTSPISH = st.lists(
    st.sampled_from(
        [
            "PLAY RTSP/1.0",
            "PAUSE MANSRTSP/1.0",
            "RTSP/1.0 200 OK",
            "CSeq: 1",
            "Scale: -2",
            "Range: npt=",
            "now",
            "-",
            "12.5",
            ":",
            "PauseTime: now",
            "RTP-Info: seq=",
            ";",
            "\r\n",
        ]
    ),
    max_size=16,
).map("".join)


@given(_RTSPISH)
@settings(max_examples=500)
def test_rtsp_like_text_raises_only_mansrtsp_error(text: str) -> None:
    try:
        message = parse(text)
    except MansrtspError:
        return
    assert parse(bytes(message)) == message


@pytest.mark.parametrize("seed", MANSRTSP_SEEDS)
def test_fuzz_seeds_parse(seed: bytes) -> None:
    check_one(seed)
    assert parse(seed)

"""INVITE offers for Play/Playback/Download, device answers, and the f= media description."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from functools import partial
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sightline.gb28181.invite import (
    DEFAULT_PAYLOADS,
    SENIOR_PAYLOADS,
    AnswerIssue,
    AudioCodec,
    InviteError,
    MediaFormat,
    MediaFormatError,
    MediaTransport,
    RecordType,
    Setup,
    Transport,
    UnusableAnswer,
    VideoCodec,
    build_download_offer,
    build_play_offer,
    build_playback_offer,
    check_answer,
    parse_answer,
    subject,
)
from sightline.gb28181.sdp import SdpError, Timing, parse
from sightline.gb28181.ssrc import GbSsrc, SsrcAllocator, StreamKind
from tests.gb28181.test_sdp import DAHUA_ANSWER, HIKVISION_ANSWER, PLAYBACK_ANSWER, UNIVIEW_ANSWER

PLATFORM = "34020000002000000001"
CHANNEL = "34020000001320000001"
BEIJING = timezone(timedelta(hours=8))
# 2024-05-01 08:00 in Beijing is 2024-05-01 00:00 UTC: Unix 1714521600.
START = datetime(2024, 5, 1, 8, 0, tzinfo=BEIJING)
END = START + timedelta(hours=1)


play = partial(
    build_play_offer,
    platform_id=PLATFORM,
    channel_id=CHANNEL,
    ssrc="0200000001",
    media_ip="10.0.0.5",
    media_port=30004,
)
playback = partial(
    build_playback_offer,
    platform_id=PLATFORM,
    channel_id=CHANNEL,
    ssrc="1200000001",
    media_ip="10.0.0.5",
    media_port=30004,
)
download = partial(
    build_download_offer,
    platform_id=PLATFORM,
    channel_id=CHANNEL,
    ssrc="1200000001",
    media_ip="10.0.0.5",
    media_port=30004,
)


def test_live_udp_offer() -> None:
    offer = build_play_offer(
        platform_id=PLATFORM,
        channel_id=CHANNEL,
        ssrc="0200000001",
        media_ip="10.0.0.5",
        media_port=30000,
    )
    sdp = parse(offer.body)
    assert sdp == offer.sdp
    assert sdp.session_name == "Play"
    assert sdp.origin is not None and sdp.origin.username == PLATFORM
    assert sdp.connection is not None and sdp.connection.address == "10.0.0.5"
    assert sdp.timing == Timing(0, 0)
    assert sdp.uri is None
    (media,) = sdp.media
    assert (media.kind, media.port, media.proto) == ("video", 30000, "RTP/AVP")
    assert media.formats == ("96", "97", "98")
    assert media.rtpmap() == dict(DEFAULT_PAYLOADS)
    assert media.attribute("recvonly") == ""
    assert media.attribute("setup") is None and media.attribute("connection") is None
    assert sdp.ssrc == "0200000001"
    assert sdp.media_format == "v/////a///"
    assert offer.subject == f"{CHANNEL}:0200000001,{PLATFORM}:0"
    assert offer.content_type == "application/sdp"


@pytest.mark.parametrize(
    ("transport", "setup"),
    [(MediaTransport.TCP_PASSIVE, "passive"), (MediaTransport.TCP_ACTIVE, "active")],
)
def test_live_tcp_offers(transport: MediaTransport, setup: str) -> None:
    offer = build_play_offer(
        platform_id=PLATFORM,
        channel_id=CHANNEL,
        ssrc="0200000001",
        media_ip="10.0.0.5",
        media_port=30000,
        transport=transport,
    )
    (media,) = parse(offer.body).media
    assert media.proto == "TCP/RTP/AVP"
    assert media.attribute("setup") == setup
    assert media.attribute("connection") == "new"
    assert transport.transport is Transport.TCP and transport.setup == Setup(setup)


def test_offer_options() -> None:
    offer = build_play_offer(
        platform_id=PLATFORM,
        channel_id=CHANNEL,
        ssrc="200000001",  # normalised to ten digits
        media_ip="fd00::5",
        media_port=30000,
        payloads=SENIOR_PAYLOADS,
        media_format=MediaFormat(video_codec=VideoCodec.H265, resolution="6"),
        stream_number=1,
    )
    sdp = parse(offer.body)
    assert sdp.connection is not None and sdp.connection.addr_type == "IP6"
    assert sdp.media[0].formats == tuple(str(pt) for pt, _ in SENIOR_PAYLOADS)
    assert sdp.media[0].attribute("streamnumber") == "1"
    assert sdp.ssrc == offer.ssrc == "0200000001"
    assert sdp.media_format == "v/5/6///a///"
    no_f = build_play_offer(
        platform_id=PLATFORM,
        channel_id=CHANNEL,
        ssrc="0200000001",
        media_ip="10.0.0.5",
        media_port=30000,
        media_format=None,
    )
    assert no_f.sdp.media_format is None and b"f=" not in no_f.body


def test_playback_offer() -> None:
    ssrc = SsrcAllocator(PLATFORM).allocate(StreamKind.HISTORY)
    offer = build_playback_offer(
        START,
        END,
        platform_id=PLATFORM,
        channel_id=CHANNEL,
        ssrc=ssrc,
        media_ip="10.0.0.5",
        media_port=30002,
        record_type=RecordType.TIME,
    )
    sdp = parse(offer.body)
    assert sdp.session_name == "Playback"
    assert sdp.uri == f"{CHANNEL}:3"
    assert sdp.timing == Timing(1714521600, 1714525200)
    assert sdp.ssrc == ssrc and GbSsrc.parse(ssrc).kind is StreamKind.HISTORY
    assert offer.subject.startswith(f"{CHANNEL}:1")
    text = offer.body.decode()
    assert text.index("u=") < text.index("c=") < text.index("t=") < text.index("m=")


def test_same_instant_in_another_zone_gives_same_seconds() -> None:
    utc_start = START.astimezone(UTC)
    a = playback(START, END)
    b = playback(utc_start, 1714525200)
    assert a.sdp.timing == b.sdp.timing


def test_download_offer() -> None:
    offer = download(1714521600, 1714525200, 4, transport=MediaTransport.TCP_PASSIVE)
    sdp = parse(offer.body)
    assert sdp.session_name == "Download"
    assert sdp.uri == f"{CHANNEL}:0"
    assert sdp.media[0].attribute("downloadspeed") == "4"
    assert sdp.media[0].attribute("setup") == "passive"


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (datetime(2024, 5, 1, 8), datetime(2024, 5, 1, 9)),  # naive: zone unknown
        (END, START),
        (100, 100),
        (-5, 100),
        (True, 100),
    ],
)
def test_history_range_is_validated(start: datetime | int, end: datetime | int) -> None:
    with pytest.raises(InviteError):
        playback(start, end)


@pytest.mark.parametrize("speed", [0, -1, 257, True, 1.5])
def test_download_speed_is_validated(speed: int) -> None:
    with pytest.raises(InviteError):
        download(START, END, speed)


@pytest.mark.parametrize(
    "change",
    [
        {"media_ip": "camera.local"},
        {"media_port": 0},
        {"media_port": 70000},
        {"ssrc": "02000000x1"},
        {"ssrc": "99999999999"},
        {"channel_id": "3402:0001"},
        {"platform_id": ""},
        {"payloads": ()},
    ],
)
def test_offer_arguments_are_validated(change: dict[str, Any]) -> None:
    with pytest.raises(InviteError):
        play(**change)


def test_invite_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        subject("bad id", "0200000001", PLATFORM)


@pytest.mark.parametrize("transport", list(MediaTransport))
def test_device_side_reads_our_offer(transport: MediaTransport) -> None:
    offer = play(ssrc="1200000001", transport=transport)
    seen = parse_answer(offer.body)
    assert (seen.ip, seen.port, seen.ssrc) == ("10.0.0.5", 30004, "1200000001")
    assert seen.transport is transport.transport and seen.setup is transport.setup
    assert seen.direction == "recvonly"


# --- answers -------------------------------------------------------------------------------------


def test_hikvision_style_answer() -> None:
    answer = parse_answer(HIKVISION_ANSWER)
    assert (answer.ip, answer.port, answer.transport) == ("192.168.1.64", 15060, Transport.UDP)
    assert answer.setup is None
    assert answer.ssrc == "0200000001" and answer.ssrc_value == 200_000_001
    assert answer.payload_types == (96,)
    assert answer.encoding(96) == "PS/90000" and answer.encoding(98) is None
    assert answer.media_format is None  # bare f=
    assert answer.file_size == -1
    assert answer.direction == "sendonly"
    assert check_answer(play(), answer) == ()


def test_dahua_style_tcp_answer() -> None:
    answer = parse_answer(DAHUA_ANSWER)
    assert (answer.ip, answer.port) == ("192.168.1.108", 20000)
    assert answer.transport is Transport.TCP and answer.setup is Setup.ACTIVE
    assert check_answer(play(transport=MediaTransport.TCP_PASSIVE), answer) == ()
    # Offering active and getting active back is the classic role confusion.
    issues = check_answer(play(transport=MediaTransport.TCP_ACTIVE), answer)
    assert issues == (AnswerIssue.SETUP_CONFLICT,)
    issues = check_answer(play(), answer)
    assert issues == (AnswerIssue.TRANSPORT_CHANGED,)


def test_uniview_style_answer_with_nine_digit_ssrc() -> None:
    answer = parse_answer(UNIVIEW_ANSWER)
    assert answer.ssrc == "0200000001"
    assert answer.payload_types == (96, 98)
    assert answer.encodings == ((96, "PS/90000"), (98, "H264/90000"))


def test_playback_answer_with_file_size_and_other_ssrc() -> None:
    answer = parse_answer(PLAYBACK_ANSWER)
    assert answer.file_size == 734_003_200
    assert answer.ssrc == "1200000002"
    offer = playback(START, END)
    assert check_answer(offer, answer) == (AnswerIssue.SSRC_CHANGED,)


def test_answer_tolerances() -> None:
    body = (
        "v=0\r\no=dev 0 0 IN IP4 192.168.1.9\r\ns=Play\r\n"
        "m=audio 0 RTP/AVP 8\r\n"
        "m=video 9000 RTP/AVP/TCP 96\r\na=SETUP: Passive \r\na=rtpmap:96 PS/90000\r\n"
        "a=filesize:unknown\r\na=downloadspeed:2\r\ny=02000x0001\r\nf=v/2/HD/25/1/4096a///\r\n"
    )
    answer = parse_answer(body)
    assert (answer.ip, answer.port) == ("192.168.1.9", 9000)  # o= address when c= is missing
    assert answer.transport is Transport.TCP and answer.setup is Setup.PASSIVE
    assert answer.file_size is None and answer.download_speed == 2
    assert answer.ssrc is None and answer.media_format is None
    offer = play(transport=MediaTransport.TCP_ACTIVE)
    assert check_answer(offer, answer) == (AnswerIssue.SSRC_MISSING,)


def test_answer_without_setup_and_ttl_address() -> None:
    answer = parse_answer("v=0\r\nc=IN IP4 224.2.1.1/127\r\nm=video 9000 TCP/RTP/AVP 96\r\n")
    assert answer.ip == "224.2.1.1"
    issues = check_answer(play(transport=MediaTransport.TCP_PASSIVE), answer)
    assert issues == (AnswerIssue.SETUP_MISSING, AnswerIssue.SSRC_MISSING)


def test_audio_only_answer_is_used_when_no_video() -> None:
    answer = parse_answer("v=0\r\nc=IN IP4 10.1.1.1\r\nm=audio 8000 RTP/AVP 8\r\ny=0200000001")
    assert (answer.port, answer.payload_types) == (8000, (8,))


@pytest.mark.parametrize(
    "body",
    [
        "v=0\r\nc=IN IP4 10.1.1.1\r\ns=Play\r\n",  # no m=
        "v=0\r\nc=IN IP4 10.1.1.1\r\nm=video 0 RTP/AVP 96\r\n",  # refused stream
        "v=0\r\ns=Play\r\nm=video 9000 RTP/AVP 96\r\n",  # no address at all
    ],
)
def test_unusable_answers(body: str) -> None:
    with pytest.raises(UnusableAnswer):
        parse_answer(body)


def test_malformed_answer_raises_sdp_error() -> None:
    with pytest.raises(SdpError):
        parse_answer(b"SIP/2.0 200 OK\r\n")


@given(st.binary(max_size=512))
def test_parse_answer_raises_only_sdp_error(data: bytes) -> None:
    try:
        answer = parse_answer(data)
    except SdpError:
        return
    assert 0 < answer.port <= 65535


# --- f= ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("v/2/5/25/1/4096a///", MediaFormat(2, "5", 25, 1, 4096)),
        ("v/////a/1/8/1", MediaFormat(audio_codec=1, audio_bitrate=8, sample_rate=1)),
        ("v/5/1920x1080/25/2/2048a/6/13/11", MediaFormat(5, "1920x1080", 25, 2, 2048, 6, 13, 11)),
        ("v/2/4/25/1/1024 a/1/8/1", MediaFormat(2, "4", 25, 1, 1024, 1, 8, 1)),
        ("v/2/4/25/1/1024/a/1/8/1", MediaFormat(2, "4", 25, 1, 1024, 1, 8, 1)),
        ("V/2/4/25/1/1024", MediaFormat(2, "4", 25, 1, 1024)),
        ("", MediaFormat()),
    ],
)
def test_media_format_parse(text: str, expected: MediaFormat) -> None:
    assert MediaFormat.parse(text) == expected


def test_media_format_names() -> None:
    fmt = MediaFormat.parse("v/2/6/25/1/4096a/1/8/1")
    assert fmt.video_codec == VideoCodec.H264 and fmt.audio_codec == AudioCodec.G711
    assert fmt.resolution_name == "1080P/I"
    assert MediaFormat(resolution="1280x720").resolution_name == "1280x720"
    assert MediaFormat(resolution="9").resolution_name is None
    assert MediaFormat().resolution_name is None
    assert str(fmt) == "v/2/6/25/1/4096a/1/8/1"
    assert str(MediaFormat()) == "v/////a///"


@pytest.mark.parametrize(
    "text",
    [
        "x/1/2",
        "v/a/2/3/4/5a///",
        "v/2/4/25/1/99999999999a///",
        "v/2/4/25/1/4294967297a///",
        "v/2/big/25/1/1a///",
        "v/2/4a///",
    ],
)
def test_media_format_errors(text: str) -> None:
    with pytest.raises(MediaFormatError):
        MediaFormat.parse(text)


@pytest.mark.parametrize(
    "kwargs", [{"video_codec": -1}, {"sample_rate": 2**33}, {"resolution": "1080p"}]
)
def test_media_format_validates_fields(kwargs: dict[str, Any]) -> None:
    with pytest.raises(MediaFormatError):
        MediaFormat(**kwargs)


_CODE = st.none() | st.integers(0, 4_294_967_296)
_RESOLUTION = st.none() | st.from_regex(r"[0-9]{1,5}|[0-9]{1,5}x[0-9]{1,5}", fullmatch=True)


@given(st.builds(MediaFormat, _CODE, _RESOLUTION, _CODE, _CODE, _CODE, _CODE, _CODE, _CODE))
def test_media_format_round_trip(fmt: MediaFormat) -> None:
    assert MediaFormat.parse(str(fmt)) == fmt


@given(st.text(st.sampled_from("va/0123456789 xX*-"), max_size=40))
def test_media_format_text_raises_only_its_error(text: str) -> None:
    try:
        fmt = MediaFormat.parse(text)
    except MediaFormatError:
        return
    assert MediaFormat.parse(str(fmt)) == fmt

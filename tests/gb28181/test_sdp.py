"""SDP as GB/T 28181 platforms and devices write it: parse, serialise, tolerate, refuse."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sightline.errors import SightlineError
from sightline.gb28181.errors import Gb28181Error
from sightline.gb28181.sdp import (
    Attribute,
    Connection,
    Media,
    Origin,
    SdpError,
    SdpLimits,
    SessionDescription,
    SessionName,
    Timing,
    parse,
)
from tests.fuzz.fuzz_sdp import SDP_SEEDS, check_one, run

# The platform's TCP-passive live offer, laid out like the standard's Annex examples.
PLATFORM_OFFER = (
    b"v=0\r\n"
    b"o=34020000002000000001 0 0 IN IP4 10.0.0.5\r\n"
    b"s=Play\r\n"
    b"c=IN IP4 10.0.0.5\r\n"
    b"t=0 0\r\n"
    b"m=video 30000 TCP/RTP/AVP 96 97 98\r\n"
    b"a=recvonly\r\n"
    b"a=rtpmap:96 PS/90000\r\n"
    b"a=rtpmap:97 MPEG4/90000\r\n"
    b"a=rtpmap:98 H264/90000\r\n"
    b"a=setup:passive\r\n"
    b"a=connection:new\r\n"
    b"y=0200000001\r\n"
    b"f=v/2/5/25/1/4096a///\r\n"
)

# Hikvision habits: DVR product name in s=, credentials echoed as attributes, bare f=.
HIKVISION_ANSWER = (
    b"v=0\r\n"
    b"o=34020000001320000001 2152 2152 IN IP4 192.168.1.64\r\n"
    b"s=EmbeddedNetDVR\r\n"
    b"c=IN IP4 192.168.1.64\r\n"
    b"t=0 0\r\n"
    b"m=video 15060 RTP/AVP 96\r\n"
    b"a=sendonly\r\n"
    b"a=rtpmap:96 PS/90000\r\n"
    b"a=username:34020000001320000001\r\n"
    b"a=password:12345678\r\n"
    b"a=filesize:-1\r\n"
    b"y=0200000001\r\n"
    b"f=\r\n"
)

# Dahua habits: LF line ends, c= only at media level, TCP active, no final line end.
DAHUA_ANSWER = (
    b"v=0\n"
    b"o=34020000001320000002 0 0 IN IP4 192.168.1.108\n"
    b"s=Play\n"
    b"t=0 0\n"
    b"m=video 20000 TCP/RTP/AVP 96\n"
    b"c=IN IP4 192.168.1.108\n"
    b"a=sendonly\n"
    b"a=rtpmap:96 PS/90000\n"
    b"a=setup:active\n"
    b"a=connection:new\n"
    b"y=0200000001"
)

# Uniview-like leniency: blank lines, trailing blanks, y= before m=, 9-digit y=, no t=.
UNIVIEW_ANSWER = (
    b"v=0\r\n"
    b"o=34020000001320000003 0 0 IN IP4 192.168.1.13  \r\n"
    b"s=Play\r\n"
    b"\r\n"
    b"c=IN IP4 192.168.1.13\r\n"
    b"y=200000001\r\n"
    b"m=video 36000 RTP/AVP 96 98\r\n"
    b"a=rtpmap:96 PS/90000 \r\n"
    b"a=rtpmap:98 H264/90000\r\n"
    b"a=sendonly\r\n"
    b"\r\n\x00\x00"
)

# A playback answer with a GB 18030 session name and the u=/t= lines of history media.
PLAYBACK_ANSWER = (
    "v=0\r\n"
    "o=34020000001320000001 0 0 IN IP4 192.168.1.64\r\n"
    "s=录像回放\r\n"
    "u=34020000001320000001:3\r\n"
    "c=IN IP4 192.168.1.64\r\n"
    "t=1714521600 1714525200\r\n"
    "m=video 15062 RTP/AVP 96\r\n"
    "a=sendonly\r\n"
    "a=rtpmap:96 PS/90000\r\n"
    "a=filesize:734003200\r\n"
    "y=1200000002\r\n"
).encode("gb18030")

DEVICE_BODIES = [HIKVISION_ANSWER, DAHUA_ANSWER, UNIVIEW_ANSWER, PLAYBACK_ANSWER]


def test_platform_offer_fields() -> None:
    sdp = parse(PLATFORM_OFFER)
    assert sdp.origin == Origin("34020000002000000001", "0", "0", "10.0.0.5")
    assert sdp.session_name == SessionName.PLAY
    assert sdp.connection == Connection("10.0.0.5")
    assert sdp.timing == Timing(0, 0)
    (media,) = sdp.media
    assert (media.kind, media.port, media.proto) == ("video", 30000, "TCP/RTP/AVP")
    assert media.formats == ("96", "97", "98")
    assert media.rtpmap() == {96: "PS/90000", 97: "MPEG4/90000", 98: "H264/90000"}
    assert media.attribute("setup") == "passive"
    assert media.attribute("recvonly") == ""
    assert media.attribute("sendonly") is None
    assert sdp.ssrc == "0200000001"
    assert sdp.media_format == "v/2/5/25/1/4096a///"


def test_serialising_the_offer_gives_its_bytes_back() -> None:
    assert bytes(parse(PLATFORM_OFFER)) == PLATFORM_OFFER


def test_hikvision_style_answer() -> None:
    sdp = parse(HIKVISION_ANSWER)
    assert sdp.session_name == "EmbeddedNetDVR"
    (media,) = sdp.media
    assert media.attribute("filesize") == "-1"
    assert media.attribute("username") == "34020000001320000001"
    assert sdp.media_format == ""
    assert sdp.ssrc == "0200000001"


def test_dahua_style_answer_keeps_media_level_connection() -> None:
    sdp = parse(DAHUA_ANSWER)
    assert sdp.connection is None
    assert sdp.media[0].connection == Connection("192.168.1.108")
    assert sdp.media[0].attribute("setup") == "active"
    assert sdp.ssrc == "0200000001"


def test_uniview_style_answer_is_tolerated() -> None:
    sdp = parse(UNIVIEW_ANSWER)
    assert sdp.origin is not None and sdp.origin.address == "192.168.1.13"
    assert sdp.timings == ()
    assert sdp.ssrc == "200000001"
    assert sdp.media[0].rtpmap() == {96: "PS/90000", 98: "H264/90000"}


def test_playback_answer_in_gb18030() -> None:
    sdp = parse(PLAYBACK_ANSWER)
    assert sdp.session_name == "录像回放"
    assert sdp.uri == "34020000001320000001:3"
    assert sdp.timing == Timing(1714521600, 1714525200)
    assert sdp.media[0].attribute("filesize") == "734003200"


@pytest.mark.parametrize("body", DEVICE_BODIES)
def test_device_bodies_round_trip(body: bytes) -> None:
    sdp = parse(body)
    assert parse(bytes(sdp)) == sdp


@pytest.mark.parametrize("ending", [b"\n", b"\r", b"\r\n"])
def test_line_ends_do_not_matter(ending: bytes) -> None:
    assert parse(PLATFORM_OFFER.replace(b"\r\n", ending)) == parse(PLATFORM_OFFER)


def test_y_and_f_belong_to_the_session_wherever_they_appear() -> None:
    lines = PLATFORM_OFFER.split(b"\r\n")
    moved = [lines[0], lines[-3], lines[-2], *lines[1:-3]]  # y=, f= right after v=
    assert parse(b"\r\n".join(moved)) == parse(PLATFORM_OFFER)
    assert bytes(parse(b"\r\n".join(moved))) == PLATFORM_OFFER


def test_spaces_around_equals_and_upper_case_types() -> None:
    sdp = parse(b"v=0\r\nY = 0100000001\r\n  s =  Playback \r\n")
    assert sdp.ssrc == "0100000001"
    assert sdp.session_name == "Playback"


def test_missing_lines_are_allowed() -> None:
    sdp = parse(b"m=video 6000 RTP/AVP 96\r\n")
    assert sdp.origin is None and sdp.session_name is None and sdp.version == 0
    assert sdp.media[0].port == 6000


def test_duplicate_session_lines_first_wins() -> None:
    sdp = parse(b"v=0\r\ny=0200000001\r\ny=0200000002\r\ns=Play\r\ns=Other\r\n")
    assert (sdp.ssrc, sdp.session_name) == ("0200000001", "Play")


def test_unknown_and_informational_lines_are_kept_in_place() -> None:
    body = b"v=0\r\ns=Play\r\ni=front door\r\nx=vendor\r\nm=video 0 RTP/AVP 96\r\ni=main stream\r\n"
    sdp = parse(body)
    assert sdp.other == (("i", "front door"), ("x", "vendor"))
    assert sdp.media[0].other == (("i", "main stream"),)
    assert parse(bytes(sdp)) == sdp


def test_session_only_lines_after_media_go_to_the_session() -> None:
    sdp = parse(b"v=0\r\nm=video 6000 RTP/AVP 96\r\nt=10 20\r\nu=ch:0\r\n")
    assert sdp.timing == Timing(10, 20) and sdp.uri == "ch:0"
    assert sdp.media[0].other == ()


def test_port_count_and_media_without_formats() -> None:
    sdp = parse(b"m=video 6000/2 RTP/AVP\r\n")
    assert (sdp.media[0].port, sdp.media[0].port_count, sdp.media[0].formats) == (6000, 2, ())


def test_rtpmap_skips_malformed_entries() -> None:
    sdp = parse(b"m=video 6000 RTP/AVP 96\r\na=rtpmap:x PS/90000\r\na=rtpmap:97\r\na=rtpmap\r\n")
    assert sdp.media[0].rtpmap() == {}


def test_session_level_attribute_lookup() -> None:
    sdp = parse(b"v=0\r\na=DownloadSpeed:4\r\nm=video 6000 RTP/AVP 96\r\n")
    assert sdp.attribute("downloadspeed") == "4"
    assert sdp.media[0].attribute("downloadspeed") is None


@pytest.mark.parametrize(
    ("body", "line"),
    [
        (b"v=0\r\nthis is not sdp\r\n", 2),
        (b"v=0\r\nab=1\r\n", 2),
        (b"v=0\r\n1=1\r\n", 2),
        (b"v=x\r\n", 1),
        (b"v=0\r\no=a b c IN IP4\r\n", 2),
        (b"v=0\r\nc=IN IP4\r\n", 2),
        (b"v=0\r\nt=0\r\n", 2),
        (b"v=0\r\nt=now later\r\n", 2),
        (b"v=0\r\nm=video RTP/AVP\r\n", 2),
        (b"v=0\r\nm=video 70000 RTP/AVP 96\r\n", 2),
        (b"v=0\r\nm=video -1 RTP/AVP 96\r\n", 2),
        (b"v=0\r\nm=video 6000/x RTP/AVP 96\r\n", 2),
        (b"v=0\r\nm=video 6000 RTP/AVP 96\r\nc=IN\r\n", 3),
        (b"v=0\r\na=:value\r\n", 2),
        (b"v=0\r\ns=Pl\x00ay\r\n", 2),
    ],
)
def test_garbage_raises_sdp_error_with_the_line(body: bytes, line: int) -> None:
    with pytest.raises(SdpError) as info:
        parse(body)
    assert info.value.line == line


@pytest.mark.parametrize("body", [b"", b"\r\n\r\n", b"\x00\x00", b"\x80\xff\x80\xff"])
def test_empty_or_undecodable_bodies(body: bytes) -> None:
    with pytest.raises(SdpError):
        parse(body)


def test_errors_are_part_of_the_tree() -> None:
    assert issubclass(SdpError, Gb28181Error)
    assert issubclass(SdpError, SightlineError)


def test_limits() -> None:
    limits = SdpLimits(max_bytes=200, max_lines=10, max_media=2)
    with pytest.raises(SdpError, match="byte limit"):
        parse(b"v=0\r\n" + b"a=x\r\n" * 60, limits)
    with pytest.raises(SdpError, match="lines"):
        parse(b"a=x\r\n" * 11, limits)
    with pytest.raises(SdpError, match="m= sections"):
        parse(b"m=video 1 RTP/AVP 96\r\n" * 3, limits)
    assert len(parse(b"m=video 1 RTP/AVP 96\r\n" * 2, limits).media) == 2


def test_default_limits_stop_a_large_body_quickly() -> None:
    started = time.perf_counter()
    with pytest.raises(SdpError):
        parse(b"a=" + b"x" * 10_000_000)
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize(
    "sdp",
    [
        SessionDescription(session_name="Play\r\ninjected"),
        SessionDescription(session_name=" padded"),
        SessionDescription(attributes=(Attribute("a:b", "c"),)),
        SessionDescription(attributes=(Attribute("two words"),)),
        SessionDescription(origin=Origin("user name", "0", "0", "10.0.0.1")),
        SessionDescription(media=(Media("video", 70000, "RTP/AVP"),)),
        SessionDescription(media=(Media("video", 1, "RTP/AVP", other=(("t", "0 0"),)),)),
        SessionDescription(other=(("m", "video 1 RTP/AVP 96"),)),
        SessionDescription(timings=(Timing(-1, 0),)),
        SessionDescription(version=10),
        SessionDescription(ssrc="\ud800"),
    ],
)
def test_serialiser_refuses_what_it_could_not_read_back(sdp: SessionDescription) -> None:
    with pytest.raises(SdpError):
        bytes(sdp)


# --- properties ----------------------------------------------------------------------------------

_TEXT_CHARS = st.characters(exclude_categories=["Cs"], exclude_characters="\r\n\x00")
TEXT = st.text(_TEXT_CHARS, max_size=20).filter(lambda s: s == s.strip())
TOKEN = st.text(_TEXT_CHARS, min_size=1, max_size=12).filter(
    lambda s: not any(c.isspace() for c in s)
)
NAME = TOKEN.filter(lambda s: ":" not in s)
ATTRS = st.lists(st.builds(Attribute, NAME, st.none() | TEXT), max_size=4).map(tuple)
CONN = st.builds(Connection, TOKEN, TOKEN, TOKEN)
OTHER_SESSION = st.lists(st.tuples(st.sampled_from("eipkrzxq"), TEXT), max_size=2).map(tuple)
OTHER_MEDIA = st.lists(st.tuples(st.sampled_from("ikxq"), TEXT), max_size=2).map(tuple)
MEDIA = st.builds(
    Media,
    TOKEN,
    st.integers(0, 65535),
    TOKEN,
    st.lists(TOKEN, max_size=4).map(tuple),
    st.none() | st.integers(0, 65535),
    st.none() | CONN,
    st.lists(TEXT, max_size=2).map(tuple),
    ATTRS,
    OTHER_MEDIA,
)
SDPS = st.builds(
    SessionDescription,
    origin=st.none() | st.builds(Origin, TOKEN, TOKEN, TOKEN, TOKEN, TOKEN, TOKEN),
    session_name=st.none() | TEXT,
    uri=st.none() | TEXT,
    connection=st.none() | CONN,
    bandwidths=st.lists(TEXT, max_size=2).map(tuple),
    timings=st.lists(
        st.builds(Timing, st.integers(0, 10**20 - 1), st.integers(0, 10**20 - 1)), max_size=2
    ).map(tuple),
    attributes=ATTRS,
    media=st.lists(MEDIA, max_size=3).map(tuple),
    ssrc=st.none() | TEXT,
    media_format=st.none() | TEXT,
    other=OTHER_SESSION,
    version=st.integers(0, 9),
)


@given(SDPS)
@settings(max_examples=300)
def test_round_trip(sdp: SessionDescription) -> None:
    assert parse(bytes(sdp)) == sdp


@given(SDPS, st.sampled_from(["\n", "\r"]))
def test_round_trip_with_other_line_ends(sdp: SessionDescription, ending: str) -> None:
    text = bytes(sdp).decode("utf-8").replace("\r\n", ending)
    assert parse(text) == sdp


@given(st.binary(max_size=2048))
@settings(max_examples=500)
def test_arbitrary_bytes_raise_only_sdp_error(data: bytes) -> None:
    try:
        sdp = parse(data)
    except SdpError:
        return
    assert parse(bytes(sdp)) == sdp


_SDPISH = st.lists(
    st.tuples(st.sampled_from("vosuctbamyfiz?="), st.text(st.sampled_from("0123 :/=aPIN.-"))),
    max_size=20,
).map(lambda lines: "\n".join(f"{k}={v}" for k, v in lines))


@given(_SDPISH)
@settings(max_examples=500)
def test_sdp_like_text_raises_only_sdp_error(text: str) -> None:
    try:
        sdp = parse(text)
    except SdpError:
        return
    assert parse(bytes(sdp)) == sdp


@pytest.mark.parametrize("seed", SDP_SEEDS)
def test_fuzz_seeds_parse(seed: bytes) -> None:
    check_one(seed)
    assert parse(seed).media


def test_fuzz_target_runs_clean_for_a_moment() -> None:
    assert run(seconds=1.0, seed=7) > 100

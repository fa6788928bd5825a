"""The device side of the offer/answer: what the simulator reads and what it answers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sightline.gb28181.invite import (
    MediaFormat,
    MediaTransport,
    Setup,
    VideoCodec,
    build_download_offer,
    build_play_offer,
    build_playback_offer,
    check_answer,
    parse_answer,
)
from sightline.gb28181.ssrc import ssrc_to_int
from sightline.sim.invite import (
    HistoryRange,
    MediaOffer,
    OfferRejected,
    SendMode,
    build_answer,
    fallback_ssrc,
    read_offer,
)
from sightline.sim.video import VideoCodec as SimCodec
from sightline.sim.video import VideoSettings

PLATFORM = "34020000002000000001"
CHANNEL = "34020000001310000001"
MODES = {
    MediaTransport.UDP: SendMode.UDP,
    MediaTransport.TCP_PASSIVE: SendMode.TCP_CONNECT,
    MediaTransport.TCP_ACTIVE: SendMode.TCP_LISTEN,
}


def _offer(transport: MediaTransport = MediaTransport.UDP, **kw: object) -> bytes:
    return build_play_offer(
        platform_id=PLATFORM,
        channel_id=CHANNEL,
        ssrc="0200000042",
        media_ip="127.0.0.1",
        media_port=30000,
        transport=transport,
        **kw,  # type: ignore[arg-type]
    ).body


@pytest.mark.parametrize("transport", list(MediaTransport))
def test_the_answer_agrees_with_the_platforms_offer(transport: MediaTransport) -> None:
    offer = build_play_offer(
        platform_id=PLATFORM,
        channel_id=CHANNEL,
        ssrc="0200000042",
        media_ip="127.0.0.1",
        media_port=30000,
        transport=transport,
    )
    read = read_offer(offer.body)
    assert read == MediaOffer("Play", "127.0.0.1", 30000, MODES[transport], "0200000042", 96)
    answer_sdp = build_answer(
        read,
        channel_id=CHANNEL,
        ip="127.0.0.1",
        port=40000,
        ssrc="0200000042",
        settings=VideoSettings(),
    )
    answer = parse_answer(bytes(answer_sdp))
    assert check_answer(offer, answer) == ()  # the platform's own checker finds nothing wrong
    assert (answer.ip, answer.port, answer.direction) == ("127.0.0.1", 40000, "sendonly")
    assert answer.encodings == ((96, "PS/90000"),)
    assert answer.setup is read.mode.answer_setup
    assert answer.media_format == MediaFormat(
        video_codec=VideoCodec.H264,
        resolution="640x360",
        frame_rate=25,
        rate_type=2,
        bitrate_kbps=1024,
    )


def test_h265_and_standard_sizes_are_described_with_codes() -> None:
    read = read_offer(_offer())
    video = VideoSettings(codec=SimCodec.H265, width=1280, height=720, fps=15)
    answer = parse_answer(
        bytes(build_answer(read, channel_id=CHANNEL, ip="::1", port=1, ssrc="1", settings=video))
    )
    assert answer.media_format is not None
    assert (answer.media_format.video_codec, answer.media_format.resolution) == (5, "5")
    assert answer.ip == "::1" and answer.sdp.connection is not None
    assert answer.sdp.connection.addr_type == "IP6"


def test_actpass_or_no_setup_over_tcp_means_the_device_connects() -> None:
    text = _offer(MediaTransport.TCP_PASSIVE).decode()
    assert read_offer(text.replace("setup:passive", "setup:actpass").encode()).mode is (
        SendMode.TCP_CONNECT
    )
    assert read_offer(text.replace("a=setup:passive\r\n", "").encode()).mode is (
        SendMode.TCP_CONNECT
    )
    assert SendMode.TCP_LISTEN.answer_setup is Setup.PASSIVE


def test_an_offer_without_y_gets_an_ssrc_from_the_device() -> None:
    text = _offer().decode().replace("y=0200000042\r\n", "")
    assert read_offer(text.encode()).ssrc is None
    ssrc = fallback_ssrc(CHANNEL, 12345)
    assert ssrc == "0200002345" and ssrc_to_int(ssrc) == 200002345


def test_a_bare_96_without_rtpmap_is_taken_as_ps() -> None:
    text = _offer().decode()
    text = "".join(line + "\r\n" for line in text.split("\r\n") if line and "rtpmap" not in line)
    assert read_offer(text.encode()).payload_type == 96


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"", 488),
        (b"garbage without equals", 400),
        (_offer().replace(b"y=0200000042", b"y=banana"), 400),
        (_offer().replace(b"PS/90000", b"XX/90000").replace(b" 96 97 98", b" 97 98"), 488),
        (_offer().replace(b"m=video 30000", b"m=audio 30000"), 488),
        (_offer().replace(b"c=IN IP4 127.0.0.1", b"c=IN IP4 camera.local"), 488),
    ],
)
def test_unusable_offers_are_refused_with_a_status(body: bytes, status: int) -> None:
    with pytest.raises(OfferRejected) as info:
        read_offer(body)
    assert info.value.status == status


def test_playback_and_download_offers_carry_the_asked_range() -> None:
    playback = build_playback_offer(
        1_700_000_000,
        1_700_000_600,
        platform_id=PLATFORM,
        channel_id=CHANNEL,
        ssrc="1200000001",
        media_ip="127.0.0.1",
        media_port=30000,
    )
    read = read_offer(playback.body)
    assert read.session_name == "Playback"
    assert read.history == HistoryRange(1_700_000_000, 1_700_000_600, 1)
    download = build_download_offer(
        1_700_000_000,
        1_700_000_060,
        4,
        platform_id=PLATFORM,
        channel_id=CHANNEL,
        ssrc="1200000002",
        media_ip="127.0.0.1",
        media_port=30000,
    )
    read = read_offer(download.body)
    assert read.session_name == "Download"
    assert read.history == HistoryRange(1_700_000_000, 1_700_000_060, 4)
    talk = playback.body.replace(b"s=Playback", b"s=Talk")
    with pytest.raises(OfferRejected) as info:
        read_offer(talk)
    assert info.value.status == 488
    live_timing = playback.body.replace(b"t=1700000000 1700000600", b"t=0 0")
    with pytest.raises(OfferRejected):
        read_offer(live_timing)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_arbitrary_bodies_raise_only_offer_rejected(body: bytes) -> None:
    try:
        read_offer(body)
    except OfferRejected as exc:
        assert exc.status in (400, 488)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(min_value=1, max_value=2**31),
    st.integers(min_value=1, max_value=31 * 86400),
    st.integers(min_value=1, max_value=64),
)
def test_any_history_range_and_speed_survive_the_offer(start: int, length: int, speed: int) -> None:
    offer = build_download_offer(
        start,
        start + length,
        speed,
        platform_id=PLATFORM,
        channel_id=CHANNEL,
        ssrc="1200000003",
        media_ip="127.0.0.1",
        media_port=30000,
    )
    read = read_offer(offer.body)
    assert read.history == HistoryRange(start, start + length, speed)
    assert read.ssrc == "1200000003"

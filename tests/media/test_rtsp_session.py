"""The RTSP session state machine, target URLs and Transport headers, with a fake clock."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sightline.media.es_sps import parse_sps
from sightline.media.ps_format import Codec
from sightline.media.ps_frames import StreamInfo
from sightline.media.rtsp import RtspParseError, RtspRequest, RtspResponse
from sightline.media.rtsp_session import (
    Phase,
    RtspSession,
    Step,
    build_sdp,
    parse_target,
    parse_transport,
)

CHANNEL = "34020000001320000001"
URL = f"rtsp://127.0.0.1:8554/live/{CHANNEL}"
TCP = "RTP/AVP/TCP;unicast;interleaved=0-1"


def req(method: str, uri: str = URL, *headers: tuple[str, str], cseq: int = 1) -> RtspRequest:
    return RtspRequest(method, uri, (("CSeq", str(cseq)), *headers))


def step(session: RtspSession, request: RtspRequest, now: float = 0.0) -> Step:
    outcome = session.receive(request, now)
    assert isinstance(outcome, Step), outcome
    return outcome


def status(session: RtspSession, request: RtspRequest, now: float = 0.0) -> int:
    outcome = session.receive(request, now)
    assert isinstance(outcome, RtspResponse), outcome
    return outcome.status


def phase(session: RtspSession) -> Phase:
    """The session's phase, read through a call so mypy does not narrow it across steps."""
    return session.phase


def ready(session: RtspSession) -> None:
    setup = req("SETUP", URL + "/trackID=0", ("Transport", TCP))
    s = step(session, setup)
    session.authorize(s.target.channel_id)
    session.setup(setup, s.target, ssrc=0x1234)


def test_a_whole_session_walks_init_ready_playing_init() -> None:
    session = RtspSession("abc", 0.0)
    options = session.receive(req("OPTIONS", "*"), 0.0)
    assert isinstance(options, RtspResponse) and "DESCRIBE" in (options.header("Public") or "")
    describe = step(session, req("DESCRIBE", URL + "?token=t"))
    assert describe.target.token == "t" and not describe.authorized
    session.authorize(CHANNEL)
    setup_request = req("SETUP", URL + "/trackID=0", ("Transport", TCP), cseq=3)
    setup_step = step(session, setup_request)
    assert setup_step.authorized  # same connection, same channel: no second token needed
    setup = session.setup(setup_request, setup_step.target, ssrc=0xCAFE)
    assert setup.header("Transport") == "RTP/AVP/TCP;unicast;interleaved=0-1;ssrc=0000CAFE"
    assert setup.header("Session") == "abc;timeout=60" and phase(session) is Phase.READY
    play_step = step(session, req("PLAY", URL + "/", ("Session", "abc")))
    play = session.play(req("PLAY"), play_step.target, 7, 1000)
    assert play.header("RTP-Info") == f"url={URL}/trackID=0;seq=7;rtptime=1000"
    assert phase(session) is Phase.PLAYING
    teardown_step = step(session, req("TEARDOWN", URL + "/", ("Session", "abc")))
    session.teardown(req("TEARDOWN"))
    assert teardown_step.method == "TEARDOWN" and phase(session) is Phase.INIT


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (RtspRequest("OPTIONS", "*"), 400),  # no CSeq
        (req("BREW"), 501),
        (req("RECORD"), 405),
        (req("ANNOUNCE"), 405),
        (req("PLAY", URL, ("Session", "abc")), 454),  # no session yet
        (req("SETUP", URL, ("Transport", "RTP/AVP;unicast;client_port=5000-5001")), 461),
        (req("SETUP", URL), 461),
        (req("SETUP", URL + "/trackID=7", ("Transport", TCP)), 404),
        (req("DESCRIBE", "rtsp://h/other/x"), 404),
        (req("DESCRIBE", "rtsp://h/live/bad%20id"), 404),
        (req("DESCRIBE", "http://h/live/1"), 400),
        (req("DESCRIBE", "rtsp://[::1/live/1"), 400),
    ],
)
def test_bad_requests_get_their_status_in_init(request_: RtspRequest, code: int) -> None:
    assert status(RtspSession("abc", 0.0), request_) == code


def test_state_rules_of_appendix_a() -> None:
    session = RtspSession("abc", 0.0)
    assert status(session, req("PLAY", URL)) == 455  # INIT: no PLAY
    ready(session)
    assert status(session, req("PLAY", URL)) == 454  # a session needs its id
    assert status(session, req("PLAY", URL, ("Session", "other"))) == 454
    assert status(session, req("GET_PARAMETER", URL, ("Session", "abc;timeout=60"))) == 200
    other = "rtsp://h/live/34020000001320000002/trackID=0"
    assert status(session, req("SETUP", other, ("Transport", TCP), ("Session", "abc"))) == 459
    assert status(session, req("DESCRIBE", other)) == 459
    s = step(session, req("PLAY", URL, ("Session", "abc")))
    session.play(req("PLAY"), s.target, 0, None)
    assert status(session, req("SETUP", URL, ("Transport", TCP), ("Session", "abc"))) == 455
    step(session, req("PAUSE", URL, ("Session", "abc")))
    session.pause(req("PAUSE"))
    assert phase(session) is Phase.READY


def test_the_session_times_out_unless_the_client_speaks() -> None:
    session = RtspSession("abc", 100.0, timeout_s=30)
    assert session.next_deadline() == 130.0
    assert not session.handle_timeout(129.9)
    session.touch(120.0)  # an RTCP report
    assert session.next_deadline() == 150.0
    status(session, req("OPTIONS", "*"), 140.0)
    assert not session.handle_timeout(169.0)
    assert session.handle_timeout(170.0) and phase(session) is Phase.CLOSED
    assert session.next_deadline() is None


def test_responses_echo_cseq_and_carry_the_session_once_set_up() -> None:
    session = RtspSession("abc", 0.0)
    ready(session)
    response = session.receive(req("OPTIONS", "*", cseq=12), 0.0)
    assert isinstance(response, RtspResponse)
    assert response.header("CSeq") == "12" and response.header("Session") == "abc;timeout=60"


@pytest.mark.parametrize(
    ("uri", "token", "track"),
    [
        (f"{URL}?token=abc", "abc", None),
        (f"{URL}/?token=abc", "abc", None),
        (f"{URL}/trackID=0", None, "trackID=0"),
        (f"{URL}?token=abc/trackID=0", "abc", "trackID=0"),  # FFmpeg without Content-Base
        (f"/live/{CHANNEL}?token=a%2Bb", "a+b", None),
    ],
)
def test_targets(uri: str, token: str | None, track: str | None) -> None:
    target = parse_target(uri)
    assert (target.channel_id, target.token, target.track) == (CHANNEL, token, track)
    assert target.base.endswith(f"/live/{CHANNEL}/") and "token" not in target.base


def test_transport_alternatives_keep_the_clients_order() -> None:
    specs = parse_transport("RTP/AVP;unicast;client_port=5000-5001, RTP/AVP/TCP;interleaved=2-3")
    assert [t.tcp for t in specs] == [False, True]
    assert specs[1].interleaved() == (2, 3) and specs[0].param("unicast") == ""
    assert parse_transport("RTP/AVP/TCP;interleaved=4")[0].interleaved() == (4, 5)
    assert parse_transport("RTP/AVP/TCP;interleaved=9-9")[0].interleaved() is None
    assert parse_transport("RTP/AVP/TCP;interleaved=300-301")[0].interleaved() is None


def test_the_sdp_describes_one_h264_track() -> None:
    sps = bytes.fromhex("6742c01e da0280bf e5c04400 000fa400 03a983c5 8ba8")
    info = StreamInfo(
        0xE0, Codec.H264, (sps,), (b"\x68\xce\x3c\x80",), (), parse_sps(Codec.H264, sps)
    )
    sdp = build_sdp(info, session_id=5, address="127.0.0.1", name=CHANNEL)
    lines = sdp.split("\r\n")
    assert lines[:3] == ["v=0", "o=- 5 1 IN IP4 127.0.0.1", f"s={CHANNEL}"]
    assert "m=video 0 RTP/AVP 96" in lines and lines[-2] == "a=control:trackID=0"
    assert any(
        line.startswith("a=fmtp:96 packetization-mode=1;profile-level-id=42C01E") for line in lines
    )


@settings(max_examples=300)
@given(uri=st.text(max_size=120))
def test_arbitrary_uris_raise_only_the_typed_error(uri: str) -> None:
    try:
        target = parse_target(uri)
    except RtspParseError as exc:
        assert exc.status in (400, 404)
        return
    assert target.channel_id and "/" not in target.channel_id


@settings(max_examples=300)
@given(
    method=st.sampled_from(["OPTIONS", "DESCRIBE", "SETUP", "PLAY", "PAUSE", "TEARDOWN", "X"]),
    uri=st.sampled_from([URL, URL + "/trackID=0", "*", "rtsp://h/x"]),
    session_header=st.sampled_from([None, "abc", "zzz"]),
    transport=st.sampled_from([None, TCP, "RTP/AVP;unicast"]),
)
def test_any_request_in_any_state_gets_an_answer_or_a_step(
    method: str, uri: str, session_header: str | None, transport: str | None
) -> None:
    session = RtspSession("abc", 0.0)
    ready(session)
    headers = [h for h in (("Session", session_header), ("Transport", transport)) if h[1]]
    outcome = session.receive(req(method, uri, *headers), 0.0)  # type: ignore[arg-type]
    assert isinstance(outcome, Step | RtspResponse)
    if isinstance(outcome, RtspResponse):
        assert outcome.header("CSeq") == "1"

"""The main process ↔ media worker channel: its packet codec, failures and stream snapshots."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sightline.gb28181.errors import DeviceOfflineError, DeviceRejectedError, DeviceTimeoutError
from sightline.gb28181.live import UnknownChannelError
from sightline.gb28181.live_channel import (
    Admit,
    Admitted,
    AuditRecord,
    DeviceHungUp,
    Failure,
    HangUp,
    Invite,
    Invited,
    LiveMessage,
    MediaWorkerConfig,
    RelayClose,
    RelayOpen,
    Revoked,
    Streams,
    Watching,
    WorkerReady,
    decode,
    encode,
    error_of_failure,
    failure_of_error,
    snapshot_from_wire,
    snapshot_to_wire,
)
from sightline.gb28181.packet_channel import ChannelError
from sightline.gb28181.ssrc import SsrcExhausted
from sightline.media.hub import (
    NoMediaError,
    StreamEndedError,
    StreamKey,
    StreamNeverArrivedError,
    StreamSnapshot,
    StreamState,
)
from sightline.media.ports import PortsExhaustedError
from sightline.media.stats import ReceiverSnapshot

CONFIG = MediaWorkerConfig(
    index=1,
    rtp_ports=(30500, 30999),
    bind_host="0.0.0.0",
    media_host="192.0.2.10",
    platform_id="34020000002000000001",
    http_host="127.0.0.1",
    http_port=0,
    token_key="ab" * 32,
    token_ttl_s=60.0,
    token_bind_client=True,
    grace_s=10.0,
    first_frame_timeout_s=10.0,
    no_media_timeout_s=5.0,
    accept_ssrc_mismatch=True,
    invite_timeout_s=10.0,
    ws_max_message=65536,
    tls_cert="/etc/sightline/cert.pem",
    tls_key=None,
    log_level="INFO",
    log_json=True,
)

MESSAGES: list[LiveMessage] = [
    CONFIG,
    Invited(3, "call-1@host", 200, "v=0\r\no=- 0 0 IN IP4 192.0.2.7\r\n", "3402" * 5, "0200000001"),
    Invited(2, failure=Failure("offline", "device 3402... is offline")),
    Invited(2, failure=Failure("transport", "tcp-passive")),
    Invited(4, failure=Failure("rejected", "device answered 486 Busy Here", 486)),
    DeviceHungUp("call-1@host"),
    Admitted(5),
    Admitted(6, "stream token was revoked", 403),
    Revoked("tok123", "the grant this stream was opened under was revoked"),
    RelayOpen(7, "34020000001310000001"),
    RelayClose(7),
    WorkerReady(40123),
    Invite(9, "34020000001310000001", 30500, "udp"),
    HangUp("call-1@host"),
    Admit(10, {"user_id": 3, "token_id": "abc", "channel_id": "3402" * 5}),
    Watching([{"user_id": 3, "token_id": "abc"}]),
    AuditRecord({"action": "live.start", "detail": {"transport": "ws"}}),
    Streams([["34020000001310000001", "live", "live", None, 1]], first=False, last=True),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_every_message_survives_the_round_trip(message: LiveMessage) -> None:
    assert decode(encode(message)) == message


@pytest.mark.parametrize(
    "packet",
    [
        b"",
        b"?{}",
        b"I[]",
        b"I{",
        b"I{}",
        b'I{"req":1,"channel_id":"x","port":1,"transport":"udp","extra":1}',
        b'C{"rtp_ports":5}',
        b'i{"req":1,"failure":{"kind":1,"bogus":2}}',
    ],
)
def test_a_malformed_packet_is_a_channel_error(packet: bytes) -> None:
    with pytest.raises(ChannelError):
        decode(packet)


@given(st.binary(max_size=300))
def test_arbitrary_bytes_decode_or_raise_channel_error(packet: bytes) -> None:
    with contextlib.suppress(ChannelError):
        decode(packet)


@pytest.mark.parametrize(
    "error",
    [
        UnknownChannelError("channel 3402 is not known"),
        DeviceOfflineError("device 3402 is offline"),
        DeviceRejectedError("device answered 486 Busy Here", status=486),
        DeviceTimeoutError("device did not answer"),
        StreamNeverArrivedError("no first frame within 10 s"),
        NoMediaError("no media for 5 s"),
        PortsExhaustedError("every port is in use"),
        SsrcExhausted("all stream numbers in use"),
        StreamEndedError("the device ended the stream (BYE)"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_a_failure_becomes_the_same_error_on_the_other_side(error: Exception) -> None:
    back = error_of_failure(decode_failure(failure_of_error(error)))
    assert type(back) is type(error)
    assert str(back) == str(error)
    if isinstance(error, DeviceRejectedError):
        assert isinstance(back, DeviceRejectedError) and back.status == 486


def decode_failure(failure: Failure) -> Failure:
    message = decode(encode(Invited(1, failure=failure)))
    assert isinstance(message, Invited) and message.failure is not None
    return message.failure


def test_an_unknown_error_or_kind_ends_the_stream_with_its_sentence() -> None:
    failure = failure_of_error(RuntimeError("disk on fire"))
    assert failure == Failure("ended", "disk on fire")
    back = error_of_failure(Failure("from-a-newer-version", "something new"))
    assert isinstance(back, StreamEndedError) and str(back) == "something new"


def test_a_stream_snapshot_survives_the_round_trip() -> None:
    reception = ReceiverSnapshot(
        transport="UDP",
        port=30500,
        ssrc=200000001,
        packets=1000,
        bytes=1_400_000,
        bitrate_bps=2e6,
        lost=2,
        reordered=1,
        duplicates=0,
        late=0,
        malformed=0,
        ssrc_mismatches=0,
        frames=250,
        keyframes=5,
        queue_drops=0,
        demux_garbage_bytes=0,
        time_to_first_packet_s=0.05,
        time_to_first_frame_s=0.1,
        since_last_packet_s=0.01,
    )
    snapshot = StreamSnapshot(
        key=StreamKey("34020000001310000001", "live+aac"),
        state=StreamState.LIVE,
        viewers=3,
        open_s=0.2,
        time_to_first_frame_s=0.3,
        frames=250,
        keyframes=5,
        bytes=1_000_000,
        bitrate_bps=2e6,
        dropped_frames=0,
        gop_frames=25,
        since_last_frame_s=0.04,
        reception=reception,
    )
    message = decode(encode(Streams([snapshot_to_wire(snapshot)])))
    assert isinstance(message, Streams)
    assert snapshot_from_wire(message.snapshots[0]) == snapshot
    with pytest.raises(ValueError, match="number of fields"):
        snapshot_from_wire(snapshot_to_wire(snapshot)[:-1])
    bare = StreamSnapshot(
        key=StreamKey("34020000001310000001"),
        state=StreamState.OPENING,
        viewers=1,
        open_s=None,
        time_to_first_frame_s=None,
        frames=0,
        keyframes=0,
        bytes=0,
        bitrate_bps=0.0,
        dropped_frames=0,
        gop_frames=0,
        since_last_frame_s=None,
    )
    assert snapshot_from_wire(snapshot_to_wire(bare)) == bare


def test_the_fuzz_target_holds_for_its_seeds_and_a_short_run() -> None:
    from tests.fuzz.fuzz_worker_channel import SEEDS, check_one, run

    for seed in SEEDS:
        check_one(seed)
    assert run(0.5, seed=3) > 0

"""A platform INVITEs simulated channels over loopback and receives PS over RTP (UDP and TCP)."""

from __future__ import annotations

import asyncio
import itertools
import secrets
import socket
import time
from collections.abc import AsyncIterator

import pytest

from sightline.gb28181.invite import MediaTransport, build_play_offer
from sightline.media.ps_format import Codec
from sightline.sim import DeviceGroup, SimHost, Transport
from sightline.sim.invite import MediaFaults
from sightline.sim.media_session import EndReason
from sightline.sim.video import VideoSettings, read_time_ms
from sightline.sip.endpoint import IncomingRequest
from sightline.sip.message import Request, Response, build_response
from sightline.sip.parser import parse_message, serialize
from tests.sim.conftest import ConfigFactory
from tests.sim.media_peer import LiveCall, bye, decode, free_port, invite, invite_request
from tests.sim.platform import SERVER_ID, LoopbackPlatform

SMALL = VideoSettings(width=320, height=180, fps=25, bitrate_kbps=256)


@pytest.fixture
async def fleet(platform: LoopbackPlatform, sim_config: ConfigFactory) -> AsyncIterator[SimHost]:
    """One IPC and one 4-channel NVR, registered over UDP, sending small video."""
    groups = (DeviceGroup(count=1), DeviceGroup(count=1, channels=4))
    host = SimHost(
        sim_config(groups=groups, video=SMALL, media_connect_retry_s=0.05, keepalive_s=30.0)
    )
    await host.start()
    assert await host.wait_registered(2, timeout_s=5)
    yield host
    await host.stop()


def _ipc(host: SimHost) -> tuple[str, str]:
    device = next(d for d in host.devices.values() if d.channel_count == 1)
    return device.device_id, device.channel_id(0)


def _nvr(host: SimHost) -> tuple[str, list[str]]:
    device = next(d for d in host.devices.values() if d.channel_count == 4)
    return device.device_id, device.channel_ids()


async def _stream_then_bye(
    platform: LoopbackPlatform, device_id: str, call: LiveCall, seconds: float
) -> None:
    await call.receiver.sink.wait_packets(1)
    await asyncio.sleep(seconds)
    answer = await bye(platform, device_id, call)
    assert answer.status == 200


@pytest.mark.parametrize("mode", list(MediaTransport))
async def test_each_media_transport_delivers_decodable_live_video(
    platform: LoopbackPlatform, fleet: SimHost, mode: MediaTransport
) -> None:
    device_id, channel_id = _ipc(fleet)
    call = await invite(platform, device_id, channel_id, mode)
    assert call.response.status == 200
    assert call.answer.ssrc == "0200000001"
    await _stream_then_bye(platform, device_id, call, 1.0)
    arrivals = call.receiver.sink.arrivals
    assert {a.packet.ssrc for a in arrivals} == {200000001}
    assert {a.packet.payload_type for a in arrivals} == {96}
    units = call.receiver.sink.access_units()
    assert units[0].keyframe and units[0].codec is Codec.H264
    pictures = decode(units)
    assert len(pictures) >= 15 and pictures[0].shape == (180, 320)  # ~25 unless the box is busy
    # the picture's clock is the wall clock (the frame left at most ~a frame ago)
    stamped = read_time_ms(pictures[-1])
    assert stamped is not None and abs(stamped - time.time() * 1000) < 1500
    assert not fleet.calls.sessions()
    call.receiver.close()


async def test_bye_stops_the_stream(platform: LoopbackPlatform, fleet: SimHost) -> None:
    device_id, channel_id = _ipc(fleet)
    call = await invite(platform, device_id, channel_id)
    await _stream_then_bye(platform, device_id, call, 0.3)
    await asyncio.sleep(0.2)  # packets in flight
    count = len(call.receiver.sink.arrivals)
    await asyncio.sleep(0.6)
    assert len(call.receiver.sink.arrivals) == count
    assert not fleet.calls.hub.feeds  # the encoder stopped with its last viewer
    assert (await bye(platform, device_id, call)).status == 481
    call.receiver.close()


async def test_every_packet_of_a_frame_shares_its_timestamp_and_the_last_is_marked(
    platform: LoopbackPlatform, fleet: SimHost
) -> None:
    device_id, channel_id = _ipc(fleet)
    call = await invite(platform, device_id, channel_id)
    await _stream_then_bye(platform, device_id, call, 0.6)
    packets = [a.packet for a in call.receiver.sink.arrivals]
    sequences = [p.sequence for p in packets]
    assert sequences == [(sequences[0] + k) & 0xFFFF for k in range(len(packets))]
    for before, after in itertools.pairwise(packets):
        assert before.marker == (before.timestamp != after.timestamp)
    call.receiver.close()


async def test_two_platforms_watching_one_channel_share_its_encoder(
    platform: LoopbackPlatform, fleet: SimHost
) -> None:
    device_id, channel_id = _ipc(fleet)
    first = await invite(platform, device_id, channel_id, ssrc="0200000011")
    second = await invite(platform, device_id, channel_id, MediaTransport.TCP_PASSIVE, "0200000012")
    await second.receiver.sink.wait_packets(1)
    assert len(fleet.calls.sessions(channel_id)) == 2
    assert len(fleet.calls.hub.feeds) == 1
    await asyncio.sleep(0.4)
    assert {a.packet.ssrc for a in first.receiver.sink.arrivals} == {200000011}
    assert {a.packet.ssrc for a in second.receiver.sink.arrivals} == {200000012}
    assert (await bye(platform, device_id, first)).status == 200
    assert len(fleet.calls.hub.feeds) == 1
    assert (await bye(platform, device_id, second)).status == 200
    for call in (first, second):
        assert decode(call.receiver.sink.access_units())
        call.receiver.close()


async def test_nvr_channels_are_invited_by_channel_id(
    platform: LoopbackPlatform, fleet: SimHost
) -> None:
    nvr_id, channels = _nvr(fleet)
    call = await invite(platform, nvr_id, channels[2])
    assert call.response.status == 200
    assert call.answer.sdp.origin is not None and call.answer.sdp.origin.username == channels[2]
    assert fleet.calls.sessions(channels[2])
    assert (await bye(platform, nvr_id, call)).status == 200
    call.receiver.close()
    for target in (nvr_id, "34020000001310999999"):
        refused = await invite(platform, nvr_id, target)
        assert refused.response.status == 404
        refused.receiver.close()


async def test_an_offline_channel_is_unavailable(
    platform: LoopbackPlatform, fleet: SimHost
) -> None:
    nvr_id, channels = _nvr(fleet)
    fleet.set_channel_online(channels[1], False)
    call = await invite(platform, nvr_id, channels[1])
    assert call.response.status == 480
    call.receiver.close()


async def test_reject_fault_answers_486(platform: LoopbackPlatform, fleet: SimHost) -> None:
    device_id, channel_id = _ipc(fleet)
    fleet.set_media_faults(device_id, MediaFaults(reject_status=486))
    busy = await invite(platform, device_id, channel_id)
    assert busy.response.status == 486
    busy.receiver.close()
    fleet.set_media_faults(device_id, None)
    call = await invite(platform, device_id, channel_id)
    assert call.response.status == 200
    assert (await bye(platform, device_id, call)).status == 200
    call.receiver.close()


async def test_wrong_ssrc_fault_sends_another_ssrc_than_answered(
    platform: LoopbackPlatform, fleet: SimHost
) -> None:
    device_id, channel_id = _ipc(fleet)
    fleet.set_media_faults(channel_id, MediaFaults(rtp_ssrc=0x12345678))
    call = await invite(platform, device_id, channel_id)
    assert call.answer.ssrc == "0200000001"  # the answer looks right...
    await _stream_then_bye(platform, device_id, call, 0.2)
    assert {a.packet.ssrc for a in call.receiver.sink.arrivals} == {0x12345678}  # ...RTP is not
    call.receiver.close()


async def test_no_media_fault_answers_200_and_sends_nothing(
    platform: LoopbackPlatform, fleet: SimHost
) -> None:
    nvr_id, channels = _nvr(fleet)
    fleet.set_media_faults(nvr_id, MediaFaults(no_media=True))
    call = await invite(platform, nvr_id, channels[0])
    assert call.response.status == 200
    await asyncio.sleep(0.8)
    assert call.receiver.sink.arrivals == []
    assert (await bye(platform, nvr_id, call)).status == 200
    call.receiver.close()
    with pytest.raises(KeyError):
        fleet.set_media_faults("34020000001310999999", MediaFaults(no_media=True))


async def test_a_retransmitted_invite_gets_the_same_answer_and_one_stream(
    platform: LoopbackPlatform, fleet: SimHost
) -> None:
    device_id, channel_id = _ipc(fleet)
    peer = platform.registrar.bindings[device_id].peer
    call = await invite(platform, device_id, channel_id, ssrc="0200000077")
    assert (await bye(platform, device_id, call)).status == 200
    request = invite_request(channel_id, call.invite.body, "x:0200000078,y:0")
    answers = []
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        port = sock.getsockname()[1]
        branch = f"z9hG4bK{secrets.token_hex(6)}"
        request.headers.prepend("Via", f"SIP/2.0/UDP 127.0.0.1:{port};branch={branch}")
        for _ in range(2):  # the second copy: as if our 200 had been lost
            await loop.sock_sendto(sock, serialize(request), (peer.host, peer.port))
            async with asyncio.timeout(3):
                answers.append(await _final(sock))
    first, again = answers
    assert first.status == again.status == 200
    assert first.to.tag == again.to.tag and first.body == again.body
    assert len(fleet.calls.sessions(channel_id)) == 1
    call.receiver.close()


async def _final(sock: socket.socket) -> Response:
    loop = asyncio.get_running_loop()
    while True:
        message = parse_message(await loop.sock_recv(sock, 65536))
        assert isinstance(message, Response)
        if message.status >= 200:
            return message


async def test_a_failed_tcp_connection_ends_the_call_with_a_bye_from_the_device(
    platform: LoopbackPlatform, fleet: SimHost
) -> None:
    byes: list[Request] = []
    got_bye = asyncio.Event()

    def on_bye(incoming: IncomingRequest) -> Response:
        byes.append(incoming.request)
        got_bye.set()
        return build_response(incoming.request, 200)

    platform.endpoint.on("BYE", on_bye)
    device_id, channel_id = _ipc(fleet)
    offer = build_play_offer(
        platform_id=SERVER_ID,
        channel_id=channel_id,
        ssrc="0200000009",
        media_ip="127.0.0.1",
        media_port=free_port(),  # nobody listens: all three connection attempts are refused
        transport=MediaTransport.TCP_PASSIVE,
    )
    request = invite_request(channel_id, offer.body, offer.subject)
    peer = platform.registrar.bindings[device_id].peer
    assert (await platform.endpoint.request(request, peer, timeout_s=5)).status == 200
    ended = fleet.calls.sessions(channel_id)
    async with asyncio.timeout(3):
        await got_bye.wait()
    assert byes[0].call_id == request.call_id
    assert byes[0].to.tag == request.from_.tag
    assert ended and ended[0].ended is EndReason.SOCKET and not fleet.calls.calls


async def test_a_new_invite_for_the_same_stream_replaces_the_old_one(
    platform: LoopbackPlatform, fleet: SimHost
) -> None:
    platform.endpoint.on("BYE", lambda i: build_response(i.request, 200))
    device_id, channel_id = _ipc(fleet)
    old = await invite(platform, device_id, channel_id, ssrc="0200000005")
    old_session = fleet.calls.sessions(channel_id)[0]
    new = await invite(platform, device_id, channel_id, ssrc="0200000005")
    assert old_session.ended is EndReason.REPLACED
    assert len(fleet.calls.sessions(channel_id)) == 1
    assert (await bye(platform, device_id, new)).status == 200
    old.receiver.close()
    new.receiver.close()


async def test_a_reboot_drops_the_streams(platform: LoopbackPlatform, fleet: SimHost) -> None:
    device_id, channel_id = _ipc(fleet)
    call = await invite(platform, device_id, channel_id)
    await call.receiver.sink.wait_packets(1)
    fleet.reboot(fleet.devices[device_id])
    assert not fleet.calls.calls
    call.receiver.close()


async def test_invite_over_sip_tcp(platform: LoopbackPlatform, sim_config: ConfigFactory) -> None:
    host = SimHost(sim_config(transport=Transport.TCP, video=SMALL, keepalive_s=30.0))
    await host.start()
    try:
        assert await host.wait_registered(1, timeout_s=5)
        device = next(iter(host.devices.values()))
        call = await invite(platform, device.device_id, device.channel_id(0))
        assert call.response.status == 200
        await _stream_then_bye(platform, device.device_id, call, 0.3)
        assert decode(call.receiver.sink.access_units())
        call.receiver.close()
    finally:
        await host.stop()

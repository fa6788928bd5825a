"""RTP receivers on loopback: real encoded video, PS-muxed and packetised, sent over sockets."""

from __future__ import annotations

import asyncio
import logging
import random
import socket
from collections.abc import AsyncIterator, Callable

import pytest
import uvloop

from sightline.media.ports import RtpPortAllocator
from sightline.media.ps_format import Codec
from sightline.media.ps_frames import AccessUnit
from sightline.media.ps_mux import PsMuxer
from sightline.media.receiver import (
    ReceiverOptions,
    RtpReceiver,
    TcpActiveRtpReceiver,
    TcpPassiveRtpReceiver,
    UdpRtpReceiver,
)
from sightline.media.rtcp import ReceiverReport, SenderReport, parse_rtcp
from sightline.media.rtp import RtpPacketiser, frame_rfc4571
from tests.media.pstools import assert_monotonic
from tests.media.test_rtsp_support import until
from tests.media.video import encode_pattern

SSRC = 110000_0123
HOST = "127.0.0.1"


def stream(
    codec: Codec = Codec.H264, frames: int = 75
) -> tuple[list[tuple[int, bytes]], list[bytes]]:
    """(frame index, RTP datagram) for a few seconds of test pattern, and the frames."""
    encoded = encode_pattern("libx264" if codec is Codec.H264 else "libx265", frames, bframes=2)
    muxer = PsMuxer(codec)
    packetiser = RtpPacketiser(ssrc=SSRC, sequence=65_500)
    datagrams = []
    for i, f in enumerate(encoded):
        pack = muxer.mux_frame(f.data, f.pts_90k, dts_90k=f.dts_90k, keyframe=f.keyframe)
        datagrams += [(i, bytes(p)) for p in packetiser.packetise(pack, f.pts_90k)]
    return datagrams, [f.data for f in encoded]


def damage(datagrams: list[tuple[int, bytes]], seed: int) -> tuple[list[bytes], set[int], int]:
    """Drop ~1% (never the last packet) and swap ~10% with a packet up to 5 places later.

    Returns the datagrams to send, the frames that lost a packet, and how many were dropped.
    """
    rng = random.Random(seed)
    drop = {n for n in range(len(datagrams) - 1) if rng.random() < 0.01}
    kept = [d for n, d in enumerate(datagrams) if n not in drop]
    for i in range(len(kept) - 6):
        if rng.random() < 0.1:
            j = i + rng.randint(1, 5)
            kept[i], kept[j] = kept[j], kept[i]
    return [d for _, d in kept], {datagrams[n][0] for n in drop}, len(drop)


async def collect(
    receiver: RtpReceiver, until: Callable[[list[AccessUnit]], bool]
) -> list[AccessUnit]:
    """Read frames until ``until`` holds (or the receiver ends), within 10 s."""
    units: list[AccessUnit] = []

    async def read() -> None:
        async for unit in receiver.frames():
            units.append(unit)
            if until(units):
                return

    await asyncio.wait_for(read(), 10)
    return units


def udp_sender(allocator: RtpPortAllocator) -> tuple[int, socket.socket, socket.socket]:
    """A sender with an RTP socket on an even port and its RTCP socket on the next one."""

    def bind(port: int) -> tuple[socket.socket, socket.socket]:
        socks = []
        try:
            for p in (port, port + 1):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind((HOST, p))
        except OSError:
            for s in socks:
                s.close()
            raise
        return socks[0], socks[1]

    port, (rtp, rtcp) = allocator.open(bind)
    rtcp.setblocking(False)
    return port, rtp, rtcp


async def send_udp(sock: socket.socket, port: int, datagrams: list[bytes]) -> None:
    for n, d in enumerate(datagrams):
        sock.sendto(d, (HOST, port))
        if n % 20 == 19:
            await asyncio.sleep(0)  # let the receiver drain its socket


@pytest.fixture
def allocator() -> RtpPortAllocator:
    base = 42000 + random.randrange(0, 100) * 20
    return RtpPortAllocator(base, base + 199)


async def test_udp_end_to_end_with_loss_and_reordering(allocator: RtpPortAllocator) -> None:
    datagrams, frames = stream()
    arrivals, damaged, dropped = damage(datagrams, seed=5)
    receiver = await UdpRtpReceiver(
        allocator, ReceiverOptions(host=HOST, expected_ssrc=SSRC, rtcp_interval_s=0)
    ).start()
    assert receiver.port % 2 == 0 and receiver.port in allocator.in_use
    _, rtp, rtcp = udp_sender(RtpPortAllocator(43000, 43999))
    try:
        await send_udp(rtp, receiver.port, arrivals)
        units = await collect(receiver, lambda u: u[-1].data == frames[-1])
    finally:
        rtp.close()
        rtcp.close()
        await receiver.close()
    assert receiver.port not in allocator.in_use
    assert_monotonic(units)
    by_data = {u.data for u in units}
    intact = [f for i, f in enumerate(frames) if i not in damaged]
    assert all(f in by_data for f in intact)
    snap = receiver.snapshot()
    assert snap.packets == len(arrivals)
    assert snap.lost == dropped
    assert snap.reordered > 0
    assert snap.ssrc == SSRC and snap.ssrc_mismatches == 0
    assert snap.bitrate_bps > 0 and snap.bytes == sum(map(len, arrivals))
    assert snap.time_to_first_frame_s is not None and snap.time_to_first_frame_s >= 0
    assert snap.frames == len(units) and snap.keyframes == 3
    assert receiver.last_packet_at is not None and receiver.first_packet_at is not None


async def test_udp_receiver_reports_go_to_the_source_rtcp_port(allocator: RtpPortAllocator) -> None:
    datagrams, _ = stream(frames=10)
    receiver = await UdpRtpReceiver(
        allocator, ReceiverOptions(host=HOST, rtcp_interval_s=0.05)
    ).start()
    _, rtp, rtcp = udp_sender(RtpPortAllocator(44000, 44999))
    try:
        sr = SenderReport(SSRC, ntp_timestamp=0x1122334455667788, rtp_timestamp=0,
                          packet_count=1, octet_count=1)  # fmt: skip
        await send_udp(rtp, receiver.port, [d for _, d in datagrams[:-3]])
        rtcp.sendto(bytes(sr), (HOST, receiver.port + 1))
        loop = asyncio.get_running_loop()
        report = ReceiverReport(0)
        while not report.reports or report.reports[0].lsr == 0:
            data = await asyncio.wait_for(loop.sock_recv(rtcp, 2048), 5)
            (parsed,) = parse_rtcp(data)
            assert isinstance(parsed, ReceiverReport)
            report = parsed
    finally:
        rtp.close()
        rtcp.close()
        await receiver.close()
    block = report.reports[0]
    assert block.ssrc == SSRC
    assert block.lsr == 0x33445566  # the middle 32 bits of the SR's NTP time
    assert block.highest_seq == (65_500 + len(datagrams) - 4) & 0xFFFF
    assert block.cumulative_lost == 0
    assert receiver.snapshot().ssrc == SSRC


async def test_an_rr_follows_the_senders_rtcp_and_never_guesses_from_an_odd_port(
    allocator: RtpPortAllocator,
) -> None:
    datagrams, _ = stream(frames=4)
    receiver = await UdpRtpReceiver(
        allocator, ReceiverOptions(host=HOST, rtcp_interval_s=0.05)
    ).start()
    rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtcp.setblocking(False)
    try:
        rtp.bind((HOST, 0))
        while rtp.getsockname()[1] % 2 == 0:  # an odd source port, as ephemeral ports can be
            rtp.close()
            rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            rtp.bind((HOST, 0))
        rtcp.bind((HOST, 0))
        await send_udp(rtp, receiver.port, [d for _, d in datagrams])
        await until(lambda: receiver.source is not None)
        assert receiver.source == (HOST, rtp.getsockname()[1])
        assert receiver.report_address() is None  # its port + 1 may be anyone's
        sr = SenderReport(SSRC, ntp_timestamp=1, rtp_timestamp=0, packet_count=1, octet_count=1)
        stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:  # RTCP from another host is read, but never decides where reports go
            stranger.bind(("127.0.0.2", 0))
            stranger.sendto(bytes(sr), (HOST, receiver.port + 1))
            await until(lambda: receiver.pipeline.counters.rtcp_packets == 1)
            assert receiver.report_address() is None
        finally:
            stranger.close()
        rtcp.sendto(bytes(sr), (HOST, receiver.port + 1))
        loop = asyncio.get_running_loop()
        data = await asyncio.wait_for(loop.sock_recv(rtcp, 2048), 5)  # symmetric RTCP
        (parsed,) = parse_rtcp(data)
        assert isinstance(parsed, ReceiverReport)
        assert receiver.report_address() == (HOST, rtcp.getsockname()[1])
    finally:
        rtp.close()
        rtcp.close()
        await receiver.close()


@pytest.mark.parametrize("accept", [True, False])
async def test_ssrc_mismatch_is_logged_and_accepted_or_dropped(
    allocator: RtpPortAllocator, accept: bool, caplog: pytest.LogCaptureFixture
) -> None:
    datagrams, frames = stream(frames=10)
    expected = 110000_9999
    options = ReceiverOptions(
        host=HOST, expected_ssrc=expected, accept_ssrc_mismatch=accept, rtcp_interval_s=0
    )
    receiver = await UdpRtpReceiver(allocator, options).start()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    caplog.set_level(logging.WARNING, logger="sightline.media.pipeline")
    try:
        await send_udp(sock, receiver.port, [d for _, d in datagrams])
        await asyncio.sleep(0.1)
    finally:
        sock.close()
        await receiver.close()
    units = [u async for u in receiver.frames()]
    snap = receiver.snapshot()
    assert snap.ssrc_mismatches == len(datagrams)
    warnings = [r.getMessage() for r in caplog.records if "SSRC mismatch" in r.getMessage()]
    assert len(warnings) == 1
    assert f"{expected:010d}" in warnings[0] and f"{SSRC:010d}" in warnings[0]
    if accept:
        assert [u.data for u in units] == frames
        assert "accepted" in warnings[0]
    else:
        assert units == [] and snap.packets == 0
        assert receiver.pipeline.counters.ssrc_dropped == len(datagrams)
        assert "dropped" in warnings[0]


async def test_udp_receiver_skips_a_port_in_use() -> None:
    taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    taken.bind((HOST, 0))
    busy = taken.getsockname()[1]
    first = busy - busy % 2
    allocator = RtpPortAllocator(first, first + 3)
    try:
        receiver = await UdpRtpReceiver(allocator, ReceiverOptions(host=HOST)).start()
        assert receiver.port == first + 2
        await receiver.close()
        assert allocator.in_use == frozenset()
    finally:
        taken.close()


def tcp_bytes(datagrams: list[tuple[int, bytes]], rng: random.Random) -> list[bytes]:
    """The RFC 4571 stream, cut into random pieces as TCP may deliver it."""
    data = b"".join(frame_rfc4571(d) for _, d in datagrams)
    pieces, pos = [], 0
    while pos < len(data):
        step = rng.randint(1, 5000)
        pieces.append(data[pos : pos + step])
        pos += step
    return pieces


async def test_tcp_passive_accepts_one_connection(allocator: RtpPortAllocator) -> None:
    datagrams, frames = stream(Codec.H265)
    receiver = await TcpPassiveRtpReceiver(
        allocator, ReceiverOptions(host=HOST, expected_ssrc=SSRC)
    ).start()
    _, writer = await asyncio.open_connection(HOST, receiver.port)
    await receiver.wait_connected(5)
    with pytest.raises(OSError):  # the listener is gone once the device is connected
        await asyncio.open_connection(HOST, receiver.port)
    for piece in tcp_bytes(datagrams, random.Random(1)):
        writer.write(piece)
        await writer.drain()
    writer.close()
    await writer.wait_closed()
    units = await collect(receiver, lambda u: False)  # ends when the device disconnects
    assert [u.data for u in units] == frames
    assert receiver.peer is not None and receiver.peer[0] == HOST
    assert receiver.port in allocator.in_use
    await receiver.close()
    assert allocator.in_use == frozenset()
    snap = receiver.snapshot()
    assert snap.transport == "TCP-passive" and snap.lost == 0 and snap.packets == len(datagrams)


async def serve_once(data: list[bytes], port: int = 0) -> asyncio.Server:
    """A device in TCP-passive mode: sends the stream to whoever connects, then hangs up."""

    async def device(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for piece in data:
            writer.write(piece)
            await writer.drain()
        writer.close()

    return await asyncio.start_server(device, HOST, port)


async def test_tcp_active_connects_to_the_device(allocator: RtpPortAllocator) -> None:
    datagrams, frames = stream()
    server = await serve_once(tcp_bytes(datagrams, random.Random(2)))
    device_port = server.sockets[0].getsockname()[1]
    try:
        receiver = await TcpActiveRtpReceiver(allocator, ReceiverOptions(host=HOST)).start(
            HOST, device_port
        )
        assert receiver.port in allocator.in_use
        units = await collect(receiver, lambda u: False)
        await receiver.close()
    finally:
        server.close()
        await server.wait_closed()
    assert [u.data for u in units] == frames
    assert allocator.in_use == frozenset()


async def test_tcp_active_retries_until_the_device_listens(allocator: RtpPortAllocator) -> None:
    datagrams, frames = stream(frames=10)
    probe = socket.socket()
    probe.bind((HOST, 0))
    device_port = probe.getsockname()[1]
    probe.close()
    receiver = TcpActiveRtpReceiver(allocator, ReceiverOptions(host=HOST))
    connecting = asyncio.create_task(receiver.start(HOST, device_port, timeout_s=5))
    await asyncio.sleep(0.25)
    assert not connecting.done()
    server = await serve_once(tcp_bytes(datagrams, random.Random(3)), device_port)
    try:
        await connecting
        units = await collect(receiver, lambda u: False)
        await receiver.close()
    finally:
        server.close()
        await server.wait_closed()
    assert [u.data for u in units] == frames


async def test_tcp_active_gives_up_after_its_timeout(allocator: RtpPortAllocator) -> None:
    probe = socket.socket()
    probe.bind((HOST, 0))
    port = probe.getsockname()[1]
    probe.close()
    receiver = TcpActiveRtpReceiver(allocator, ReceiverOptions(host=HOST))
    with pytest.raises(TimeoutError):
        await receiver.start(HOST, port, timeout_s=0.3)
    assert allocator.in_use == frozenset()


def test_udp_receiver_under_uvloop() -> None:
    async def scenario() -> tuple[list[bytes], list[bytes]]:
        datagrams, frames = stream(frames=30)
        allocator = RtpPortAllocator(45000, 45999)
        receiver = await UdpRtpReceiver(allocator, ReceiverOptions(host=HOST)).start()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            await send_udp(sock, receiver.port, [d for _, d in datagrams])
            units = await collect(receiver, lambda u: u[-1].data == frames[-1])
        finally:
            sock.close()
            await receiver.close()
        return [u.data for u in units], frames

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        got, frames = runner.run(scenario())
    assert got == frames


async def test_on_frame_callback_sees_every_unit(allocator: RtpPortAllocator) -> None:
    datagrams, frames = stream(frames=10)
    seen: list[AccessUnit] = []
    receiver = await UdpRtpReceiver(
        allocator, ReceiverOptions(host=HOST), on_frame=seen.append
    ).start()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        await send_udp(sock, receiver.port, [d for _, d in datagrams])
        await asyncio.sleep(0.1)
    finally:
        sock.close()
        await receiver.close()
    frames_out: AsyncIterator[AccessUnit] = receiver.frames()
    assert [u.data for u in seen] == [u.data async for u in frames_out] == frames

"""The live path without signalling: UDP RTP/PS → receiver → hub → fMP4 that FFmpeg decodes."""

from __future__ import annotations

import asyncio
import io
import socket

import av

from sightline.media.fmp4 import Fmp4Packager
from sightline.media.hub import StreamHub, StreamKey, Upstream, Viewer
from sightline.media.ports import RtpPortAllocator
from sightline.media.ps_format import Codec
from sightline.media.ps_mux import PsMuxer
from sightline.media.receiver import ReceiverOptions, UdpRtpReceiver
from sightline.media.rtp import RtpPacketiser
from tests.media.video import encode_pattern

HOST = "127.0.0.1"
SSRC = 110000_0456


def packs(frames: int) -> list[list[bytes]]:
    """The RTP datagrams of each frame of a test pattern."""
    muxer = PsMuxer(Codec.H264)
    packetiser = RtpPacketiser(ssrc=SSRC)
    out = []
    for f in encode_pattern("libx264", frames, bframes=2):
        pack = muxer.mux_frame(f.data, f.pts_90k, dts_90k=f.dts_90k, keyframe=f.keyframe)
        out.append([bytes(p) for p in packetiser.packetise(pack, f.pts_90k)])
    return out


async def watch(viewer: Viewer, count: int) -> bytes:
    """What a browser would be sent: init segment and one fragment per frame."""
    packager = Fmp4Packager()
    out = bytearray()
    frames = 0
    async with asyncio.timeout(10):
        while frames < count:
            for segment in packager.push(await anext(viewer)):
                out += segment.data
                frames += not segment.init
    return bytes(out)


async def test_two_viewers_of_a_udp_stream_get_playable_fmp4() -> None:
    allocator = RtpPortAllocator(46000, 46999)
    receivers: list[UdpRtpReceiver] = []

    async def invite() -> Upstream:
        receiver = UdpRtpReceiver(allocator, ReceiverOptions(host=HOST, expected_ssrc=SSRC))
        receivers.append(await receiver.start())
        return receiver

    frames = packs(50)  # 2 s at 25 fps, key frames at 0 and 25
    hub = StreamHub(grace_s=0)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        async with hub.view(StreamKey("34020000001320000001"), invite) as first:
            port = receivers[0].port
            for datagrams in frames[:30]:
                for d in datagrams:
                    sock.sendto(d, (HOST, port))
                await asyncio.sleep(0.002)
            early = asyncio.create_task(watch(first, 45))
            await asyncio.sleep(0.3)  # the hub has seen frame 29: a GOP from 25 is held
            async with hub.view(StreamKey("34020000001320000001"), invite) as second:
                late = asyncio.create_task(watch(second, 20))
                for datagrams in frames[30:]:
                    for d in datagrams:
                        sock.sendto(d, (HOST, port))
                    await asyncio.sleep(0.002)
                late_mp4 = await late
            early_mp4 = await early
            (snap,) = hub.snapshot()
            assert snap.viewers == 1 and snap.keyframes == 2
        await asyncio.sleep(0.05)
        assert allocator.in_use == frozenset()  # grace 0: the upstream closed, port released
    finally:
        sock.close()
        await hub.close()
    assert len(receivers) == 1
    for data, count in ((early_mp4, 45), (late_mp4, 20)):
        with av.open(io.BytesIO(data), "r", format="mp4") as container:
            decoded = list(container.decode(video=0))
        assert len(decoded) == count
        assert (decoded[0].width, decoded[0].height) == (320, 240)

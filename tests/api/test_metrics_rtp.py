"""/metrics carries each received stream's RTP counters (packets, lost, reordered, duplicates).

The counters are the receive pipeline's own (a real ``RtpPipeline`` fed RTP with one packet
missing, one duplicated and two swapped), reached through the hub's stream like ``serve``
reaches a ``LiveUpstream``'s receiver.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from fastapi.testclient import TestClient

from sightline.api.app import ApiContext, create_app
from sightline.api.metrics import build_registry
from sightline.media.hub import StreamHub, StreamKey, StreamSnapshot, StreamState
from sightline.media.pipeline import RtpPipeline
from sightline.media.ps_frames import AccessUnit
from sightline.media.rtp import RtpPacketiser
from sightline.media.stats import ReceiverSnapshot
from sightline.sip.stats import SipStats

KEY = StreamKey("34020000001310000001")


class ReceivedUpstream:
    """An upstream whose RTP went through a real pipeline; it sends no frames until closed."""

    def __init__(self, pipeline: RtpPipeline) -> None:
        self.pipeline = pipeline
        self.done = asyncio.Event()

    async def frames(self) -> AsyncIterator[AccessUnit]:
        await self.done.wait()
        return
        yield  # pragma: no cover - makes this an async generator

    def reception(self) -> ReceiverSnapshot:
        return self.pipeline.snapshot(10.0, 0.0, "udp", 30000)

    async def close(self) -> None:
        self.done.set()


def _received() -> RtpPipeline:
    pipeline = RtpPipeline()
    packets = [bytes(p) for p in RtpPacketiser(ssrc=1234).packetise(bytes(1400 * 12), 0)]
    order = [0, 1, 2, 3, 5, 7, 6, 8, 8, 9, 10, 11]  # 4 lost, 6/7 swapped, 8 twice
    for at, index in enumerate(order):
        pipeline.packet(packets[index], at / 1000)
    pipeline.handle_timeout(5.0)
    return pipeline


async def _snapshots() -> list[StreamSnapshot]:
    hub = StreamHub(first_frame_timeout_s=30)
    upstream = ReceivedUpstream(_received())

    async def opener() -> ReceivedUpstream:
        return upstream

    viewer = await hub.join(KEY, opener)
    await asyncio.sleep(0)
    snaps = hub.snapshot()
    hub.leave(viewer)
    await hub.close()
    return snaps


async def test_metrics_show_each_streams_rtp_counters() -> None:
    snaps = await _snapshots()
    got = snaps[0].reception
    assert got is not None
    assert (got.packets, got.lost, got.duplicates) == (12, 1, 1)  # packets: all that came
    registry = build_registry(SipStats(), lambda: snaps)
    text = TestClient(create_app(ApiContext(registry=registry))).get("/metrics").text
    labels = 'channel="34020000001310000001",kind="live"'
    assert f"sightline_stream_rtp_packets_total{{{labels}}} 12.0" in text
    assert f"sightline_stream_rtp_lost_total{{{labels}}} 1.0" in text
    assert f"sightline_stream_rtp_duplicates_total{{{labels}}} 1.0" in text
    assert f"sightline_stream_rtp_reordered_total{{{labels}}} {float(got.reordered)}" in text


def test_streams_without_a_receiver_have_no_rtp_samples() -> None:
    snap = StreamSnapshot(
        key=StreamKey(KEY.channel_id, "live+aac"),
        state=StreamState.LIVE,
        viewers=1,
        open_s=0.1,
        time_to_first_frame_s=0.2,
        frames=1,
        keyframes=1,
        bytes=10,
        bitrate_bps=80.0,
        dropped_frames=0,
        gop_frames=1,
        since_last_frame_s=0.0,
    )
    registry = build_registry(SipStats(), lambda: [snap])
    text = TestClient(create_app(ApiContext(registry=registry))).get("/metrics").text
    assert "sightline_stream_frames_total{" in text
    assert "sightline_stream_rtp_packets_total{" not in text

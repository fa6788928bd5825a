"""UDP RTP read in bursts: a whole key frame sent at once, the source address, and close."""

from __future__ import annotations

import asyncio
import random
import socket

from sightline.media.ports import RtpPortAllocator
from sightline.media.receiver import _BURST, ReceiverOptions, UdpRtpReceiver
from tests.media.test_receiver import HOST, SSRC, collect, stream


async def test_a_burst_larger_than_one_read_is_all_taken() -> None:
    base = 44000 + random.randrange(0, 100) * 20
    allocator = RtpPortAllocator(base, base + 19)
    datagrams, frames = stream(frames=60)
    assert len(datagrams) > 2 * _BURST
    receiver = await UdpRtpReceiver(
        allocator, ReceiverOptions(host=HOST, expected_ssrc=SSRC, rtcp_interval_s=0)
    ).start()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        sender.bind((HOST, 0))
        for _, data in datagrams:  # no pause: hundreds of datagrams queue before one wake-up
            sender.sendto(data, (HOST, receiver.port))
        units = await collect(receiver, lambda u: len(u) >= len(frames) - 1)
        assert receiver.source == sender.getsockname()
    await receiver.close()
    assert [u.data for u in units] == frames[: len(units)]
    assert receiver.pipeline.counters.packets == len(datagrams)
    assert receiver.pipeline.jitter.stats.lost == 0
    assert receiver.port not in allocator.in_use


async def test_nothing_is_read_after_close() -> None:
    base = 44000 + random.randrange(0, 100) * 20
    allocator = RtpPortAllocator(base, base + 19)
    receiver = await UdpRtpReceiver(allocator, ReceiverOptions(host=HOST)).start()
    port = receiver.port
    await receiver.close()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
        other.bind((HOST, port))  # the port is free again: the receiver's socket is closed
        other.sendto(b"\x80" * 20, (HOST, port))
    await asyncio.sleep(0.05)
    assert receiver.pipeline.counters.packets == 0

"""UDP RTP read in bursts: a whole key frame sent at once, the source address, close, and
frames pushed to a consumer (``attach``) instead of pulled."""

from __future__ import annotations

import asyncio
import random
import socket

import pytest

from sightline.media.errors import MediaError
from sightline.media.ports import RtpPortAllocator
from sightline.media.ps_frames import AccessUnit
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


async def test_attach_pushes_every_frame_queued_or_new_until_the_end() -> None:
    base = 44000 + random.randrange(0, 100) * 20
    allocator = RtpPortAllocator(base, base + 19)
    datagrams, frames = stream(frames=30)
    receiver = await UdpRtpReceiver(
        allocator, ReceiverOptions(host=HOST, expected_ssrc=SSRC, rtcp_interval_s=0)
    ).start()
    pushed: list[AccessUnit] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        sender.bind((HOST, 0))
        half = len(datagrams) // 2
        for _, data in datagrams[:half]:
            sender.sendto(data, (HOST, receiver.port))
        for _ in range(200):  # queued before anyone attaches
            if receiver.pipeline.counters.packets == half:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)  # past the jitter buffer's warm-up: frames come out
        done = receiver.attach(pushed.append)
        assert pushed  # the queued frames first
        with pytest.raises(MediaError):
            receiver.attach(pushed.append)
        for _, data in datagrams[half:]:
            sender.sendto(data, (HOST, receiver.port))
        for _ in range(200):
            if receiver.pipeline.counters.packets == len(datagrams):
                break
            await asyncio.sleep(0.01)
    assert not asyncio.ensure_future(done).done()
    await receiver.close()
    await asyncio.wait_for(done, 1)
    assert [u.data for u in pushed] == frames
    assert [u async for u in receiver.frames()] == []  # nothing left for the pull path
    other = await UdpRtpReceiver(allocator, ReceiverOptions(host=HOST)).start()
    await other.close()
    await asyncio.wait_for(other.attach(pushed.append), 1)  # closed already: ends at once

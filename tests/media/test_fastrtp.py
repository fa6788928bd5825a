"""The optional C hot path (``sightline.media._fastrtp``) against the pure-Python reference.

The same inputs go through both and must give identical output: the PS packet-start scan
on arbitrary bytes, whole demuxer runs on truncated, reordered, duplicated and corrupted
streams, the RTP pipeline on lossy reordered datagrams, and UDP receivers on real sockets
reading with ``recvmmsg`` or with one ``sock.recv`` per datagram.
"""

from __future__ import annotations

import asyncio
import errno
import random
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sightline.media import ps_demux, ps_frames, receiver
from sightline.media.pipeline import RtpPipeline
from sightline.media.ports import RtpPortAllocator
from sightline.media.ps_demux import PsDemuxer, packet_start_py
from sightline.media.ps_format import Codec
from sightline.media.ps_frames import start_code_py
from sightline.media.ps_mux import PsMuxer
from sightline.media.receiver import ReceiverOptions, UdpRtpReceiver
from tests.media.pstools import pes, plain_pack
from tests.media.test_receiver import HOST, SSRC, collect, damage, stream
from tests.media.video import encode_pattern

fast = pytest.importorskip(
    "sightline.media._fastrtp", reason="the C extension is not built (no compiler at install)"
)

# Bytes that make start codes likely: zeros, ones and the packet ids around the cut-off.
_SOUP = st.lists(
    st.sampled_from([0x00, 0x00, 0x00, 0x01, 0xBA, 0xB9, 0xB8, 0xE0, 0xC0, 0xFF, 0x47]),
    max_size=300,
).map(bytes)


@settings(max_examples=500, deadline=None)
@given(
    data=st.one_of(_SOUP, st.binary(max_size=300)),
    start=st.integers(-5, 310),
    stop=st.integers(-5, 310),
    video=st.booleans(),
)
def test_packet_start_matches_the_reference(
    data: bytes, start: int, stop: int, video: bool
) -> None:
    expected = packet_start_py(data, start, stop, video)
    assert fast.packet_start(data, start, stop, video) == expected
    assert fast.packet_start(bytearray(data), start, stop, video) == expected


@settings(max_examples=500, deadline=None)
@given(
    data=st.one_of(_SOUP, st.binary(max_size=300)),
    start=st.integers(-5, 310),
    stop=st.integers(-5, 310),
)
def test_start_code_matches_the_reference(data: bytes, start: int, stop: int) -> None:
    expected = start_code_py(data, start, stop)
    assert fast.start_code(data, start, stop) == expected
    assert fast.start_code(bytearray(data), start, stop) == expected


def test_packet_start_examples_and_bad_arguments() -> None:
    assert fast.packet_start(b"\x00\x00\x01\x09\x00\x00\x01\xba", 0, 8, True) == 4
    assert fast.packet_start(b"\x00\x00\x00\x01\xe0", 0, 5, True) == 1
    assert fast.packet_start(b"\x00\x00\x01\xe0", 0, 4, False) == -1  # audio: packs only
    assert fast.packet_start(b"\x00\x00\x01\xba", 0, 3, False) == -1  # the id is past stop
    with pytest.raises(TypeError):
        fast.packet_start("text", 0, 4, True)
    with pytest.raises(TypeError):
        fast.packet_start(b"", 0)
    assert fast.start_code(b"\x00\x00\x00\x01\x09", 0, 5) == 1
    assert fast.start_code(b"\x00\x00\x01", 1, 3) == -1
    with pytest.raises(TypeError):
        fast.start_code(None, 0, 1)


def _pure(monkeypatch: Any) -> None:
    """Make the demuxer and the frame assembler use the pure-Python scans."""
    monkeypatch.setattr(ps_demux, "packet_start", packet_start_py)
    monkeypatch.setattr(ps_frames, "start_code", start_code_py)


def _demux(pieces: list[tuple[bytes, bool]], compiled: bool, monkeypatch: Any) -> tuple[Any, ...]:
    """Every unit and counter a demuxer gives for ``pieces``, with the C scans or without."""
    if compiled:
        monkeypatch.setattr(ps_demux, "packet_start", fast.packet_start)
        monkeypatch.setattr(ps_frames, "start_code", fast.start_code)
    else:
        _pure(monkeypatch)
    d = PsDemuxer(max_frame_bytes=200_000, max_buffered_bytes=1 << 20)
    units = []
    for piece, end in pieces:
        units += d.feed(piece, end_of_frame=end)
    units += d.reset() + d.flush()
    return tuple(units), d.stats, dict(d.streams)


def _both(pieces: list[tuple[bytes, bool]]) -> int:
    with pytest.MonkeyPatch.context() as mp:
        reference = _demux(pieces, False, mp)
        compiled = _demux(pieces, True, mp)
    assert compiled == reference
    return len(compiled[0])


def _real_ps(codec: Codec = Codec.H264, frames: int = 16) -> bytes:
    muxer = PsMuxer(codec, max_pes_payload=3000)
    encoded = encode_pattern("libx264" if codec is Codec.H264 else "libx265", frames, bframes=1)
    return b"".join(
        muxer.mux_frame(f.data, f.pts_90k, dts_90k=f.dts_90k, keyframe=f.keyframe) for f in encoded
    )


REAL = _real_ps()


def _chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@settings(max_examples=60, deadline=None)
@given(
    size=st.integers(1, 2000),
    cut_at=st.integers(0, len(REAL)),
    swaps=st.lists(st.integers(0, 10_000), max_size=6),
    repeats=st.lists(st.integers(0, 10_000), max_size=6),
    edits=st.lists(
        st.tuples(st.integers(0, len(REAL)), st.integers(0, 200), st.binary(max_size=12)),
        max_size=6,
    ),
)
def test_demuxer_gives_the_same_units_with_the_c_scan(
    size: int, cut_at: int, swaps: list[int], repeats: list[int], edits: list[Any]
) -> None:
    data = bytearray(REAL[:cut_at])  # truncated
    for at, remove, insert in edits:  # corrupted
        data[at : at + remove] = insert
    chunks = _chunks(bytes(data), size)
    for s in swaps:  # reordered
        if len(chunks) > 1:
            i = s % (len(chunks) - 1)
            chunks[i], chunks[i + 1] = chunks[i + 1], chunks[i]
    for r in repeats:  # duplicated
        if chunks:
            i = r % len(chunks)
            chunks.insert(i, chunks[i])
    _both([(c, n % 7 == 6) for n, c in enumerate(chunks)])


@settings(max_examples=200, deadline=None)
@given(pieces=st.lists(st.tuples(st.one_of(_SOUP, st.binary(max_size=400)), st.booleans())))
def test_arbitrary_bytes_give_the_same_result_and_never_raise(
    pieces: list[tuple[bytes, bool]],
) -> None:
    _both(pieces)


def test_whole_streams_give_the_same_units() -> None:
    assert _both([(c, False) for c in _chunks(REAL, 1400)]) == 16
    assert _both([(c, False) for c in _chunks(_real_ps(Codec.H265, 8), 1400)]) == 8
    mixed = b"".join(  # G.711 PES between the video packs: audio payloads are cut at packs only
        plain_pack(f) + pes(0xC0, bytes(range(160)), f.pts_90k)
        for f in encode_pattern("libx264", 6)
    )
    assert _both([(c, n % 3 == 0) for n, c in enumerate(_chunks(mixed, 700))]) >= 6 + 6
    _both([(c, False) for c in _chunks(mixed[:-200], 333)])


def _pipeline_run(datagrams: list[bytes]) -> tuple[Any, ...]:
    pipeline = RtpPipeline(expected_ssrc=SSRC)
    units = []
    for n, data in enumerate(datagrams):
        units += pipeline.packet(data, n * 0.0005)
        units += pipeline.handle_timeout(n * 0.0005)
    units += pipeline.flush()
    return tuple(units), pipeline.jitter.stats, pipeline.counters, pipeline.demuxer.stats


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_pipeline_on_lossy_reordered_datagrams_is_the_same(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent, _, _ = damage(stream(frames=30)[0], seed)
    rng = random.Random(seed)
    for _ in range(5):  # and a few corrupted payload bytes
        i = rng.randrange(len(sent))
        at = rng.randrange(12, len(sent[i]))
        sent[i] = sent[i][:at] + bytes([rng.randrange(256)]) + sent[i][at + 1 :]
    compiled = _pipeline_run(sent)
    _pure(monkeypatch)
    assert _pipeline_run(sent) == compiled


# -- recv_burst on real sockets ---------------------------------------------------------


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A bound non-blocking receiving socket and a sender, both on 127.0.0.1."""
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    rx.bind((HOST, 0))
    rx.setblocking(False)
    yield rx, tx
    rx.close()
    tx.close()


def test_recv_burst_returns_waiting_datagrams_in_order(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    rx, tx = pair
    assert fast.recv_burst(rx.fileno(), 64) == []
    sent = [bytes([i]) * size for i, size in enumerate([1400, 0, 1, 65507, 12, 9000, 1400])]
    for data in sent:
        tx.sendto(data, rx.getsockname())
    assert fast.recv_burst(rx.fileno(), 3) == sent[:3]
    assert fast.recv_burst(rx.fileno(), 64) == sent[3:]
    assert fast.recv_burst(rx.fileno(), 64) == []


def test_recv_burst_caps_the_batch_and_reports_errors(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    rx, tx = pair
    for i in range(fast.MAX_BURST + 10):
        tx.sendto(i.to_bytes(2, "big"), rx.getsockname())
    first = fast.recv_burst(rx.fileno(), 1000)
    assert len(first) == fast.MAX_BURST
    assert first + fast.recv_burst(rx.fileno(), 1000) == [
        i.to_bytes(2, "big") for i in range(fast.MAX_BURST + 10)
    ]
    with pytest.raises(ValueError):
        fast.recv_burst(rx.fileno(), 0)
    with pytest.raises(ValueError):
        fast.recv_burst(-1, 1)
    closed = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    fd = closed.fileno()
    closed.close()
    with pytest.raises(OSError) as info:
        fast.recv_burst(fd, 1)
    assert info.value.errno == errno.EBADF


async def _receive(datagrams: list[bytes], port_base: int) -> tuple[Any, ...]:
    allocator = RtpPortAllocator(port_base, port_base + 19)
    options = ReceiverOptions(host=HOST, expected_ssrc=SSRC, rtcp_interval_s=0)
    rx = await UdpRtpReceiver(allocator, options).start()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        sender.bind((HOST, 0))
        for n, data in enumerate(datagrams):
            sender.sendto(data, (HOST, rx.port))
            if n % 50 == 49:
                await asyncio.sleep(0.001)  # some bursts, some single datagrams
        for _ in range(500):
            if rx.pipeline.counters.packets >= len(datagrams):
                break
            await asyncio.sleep(0.01)
        source = rx.source == sender.getsockname()
    await rx.close()
    units = await collect(rx, lambda _: False)
    c, j = rx.pipeline.counters, rx.pipeline.jitter.stats
    return [(u.data, u.pts_90k, u.keyframe) for u in units], c.packets, j.lost, source


async def test_udp_receiver_reads_the_same_with_recvmmsg_and_recv(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sent, _, dropped = damage(stream(frames=40)[0], 7)
    base = 45000 + random.randrange(0, 100) * 20
    assert receiver.recv_burst is fast.recv_burst  # what serve runs when it is built
    compiled = await _receive(sent, base)
    monkeypatch.setattr(receiver, "recv_burst", None)
    reference = await _receive(sent, base)
    assert compiled == reference
    assert compiled[1] == len(sent) and compiled[2] == dropped and compiled[3]

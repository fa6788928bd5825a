"""The main process ↔ REGISTER worker channel: the packet codec and the non-blocking Channel."""

from __future__ import annotations

import asyncio
import contextlib
import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sightline.gb28181.register_channel import (
    HIGH_WATER,
    AuthOutcome,
    Ban,
    Channel,
    ChannelError,
    ChannelMessage,
    Forwarded,
    Ha1Entries,
    Ready,
    Registered,
    Registrations,
    Start,
    StatsReport,
    WorkerConfig,
    decode,
    encode,
)

CONFIG = WorkerConfig(
    index=2,
    host="127.0.0.1",
    port=5060,
    realm="3402000000",
    nonce_key="00" * 32,
    nonce_lifetime_s=300.0,
    device_password="secret",
    expires_min_s=60,
    expires_max_s=86400,
    date_header=True,
    max_message_bytes=65535,
    user_agent="sightline 34020000002000000001",
    rate_per_source=200.0,
    rate_burst=400,
    flood_exempt=["10.0.0.0/8"],
)

MESSAGES: list[ChannelMessage] = [
    CONFIG,
    Ha1Entries([("34020000001320000001", "a" * 32), ("34020000001320000002", None)]),
    Start(),
    Ready("127.0.0.1", 5060),
    Ban("192.0.2.1", 300.0),
    Forwarded("::1", 5061, b"MESSAGE sip:x SIP/2.0\r\n\r\n"),
    Registered(
        "34020000001320000001",
        "<sip:34020000001320000001@192.0.2.7:5060>",
        "192.0.2.7",
        5060,
        3600,
        "abc@192.0.2.7",
        "3.0",
    ),
    Registered("34020000001320000001", "<sip:x@h>", "h", 1, 0, "c", None),
    Registrations(
        (
            Registered("34020000001320000002", "<sip:a@b>", "192.0.2.8", 5062, 60, "d", None),
            Registered("34020000001320000003", "<sip:c@d>", "::1", 65535, 0, "e@f", "2.0"),
        )
    ),
    AuthOutcome("192.0.2.9", ok=False),
    StatsReport((("requests_by_method", "REGISTER", 4), ("auth_successes", "", 2))),
    StatsReport(()),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_every_message_survives_the_round_trip(message: ChannelMessage) -> None:
    assert decode(encode(message)) == message


@given(
    host=st.text(st.characters(codec="utf-8"), min_size=1, max_size=60),
    port=st.integers(0, 65535),
    data=st.binary(max_size=2000),
)
def test_forwarded_datagrams_keep_every_byte(host: str, port: int, data: bytes) -> None:
    if len(host.encode()) > 255:
        return
    assert decode(encode(Forwarded(host, port, data))) == Forwarded(host, port, data)


_TEXT = st.text(st.characters(codec="utf-8"), max_size=80)


@given(
    st.lists(
        st.builds(
            Registered,
            device_id=_TEXT,
            contact=_TEXT,
            host=_TEXT,
            port=st.integers(0, 65535),
            expires=st.integers(0, 2**32 - 1),
            call_id=_TEXT,
            gb_version=st.none() | _TEXT,
        ),
        min_size=1,
        max_size=5,
    )
)
def test_registration_batches_keep_every_field(items: list[Registered]) -> None:
    batch = Registrations(tuple(items))
    assert decode(encode(batch)) == batch
    assert decode(encode(items[0])) == items[0]


def test_registered_text_with_surrogate_escapes_survives() -> None:
    # header text the parser kept byte-exact (GB2312 display names) as surrogate escapes
    contact = b'"\xc9\xe3\xcf\xf1" <sip:x@h>'.decode("unicode_escape").encode("latin-1")
    item = Registered("d", contact.decode("utf-8", "surrogateescape"), "h", 1, 2, "c", None)
    assert decode(encode(item)) == item


def test_a_field_too_long_for_a_record_is_a_channel_error() -> None:
    with pytest.raises(ChannelError):
        encode(Registered("d", "x" * 70_000, "h", 1, 2, "c", None))


@given(st.binary(max_size=300))
def test_arbitrary_packets_decode_or_raise_channel_error(packet: bytes) -> None:
    with contextlib.suppress(ChannelError):
        decode(packet)


@pytest.mark.parametrize(
    "packet",
    [
        b"",
        b"Z{}",
        b"R[1,2]",
        b"R{}",
        b'R{"device_id": 1, "bogus": 2}',
        b"F\x00",
        b"Cnot json",
        b"G",  # a batch of no registration
        b"G\x00\x01\x00\x00\x00\x01\x00\x00\x05\x00\x00\x00\x00\x00\x00\x00\x00abc",  # short
        b"R" + bytes(17) + bytes(17),  # two records where one belongs
        b"G\x00\x01\x00\x00\x00\x01\x02" + bytes(10),  # version flag 2
        b"Tbans\t\tmany",
        b"Tbans\t1",
    ],
)
def test_malformed_packets_raise_channel_error(packet: bytes) -> None:
    with pytest.raises(ChannelError):
        decode(packet)


class Inbox:
    """Collects messages; ``full`` is set once ``want`` have arrived."""

    def __init__(self, want: int) -> None:
        self.items: list[ChannelMessage] = []
        self.want = want
        self.full = asyncio.Event()

    def __call__(self, message: ChannelMessage) -> None:
        self.items.append(message)
        if len(self.items) >= self.want:
            self.full.set()

    async def wait(self) -> list[ChannelMessage]:
        async with asyncio.timeout(20):
            await self.full.wait()
        return self.items


async def test_channel_carries_messages_both_ways_and_reports_the_end() -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    got_a, got_b = Inbox(1), Inbox(len(MESSAGES))
    closed = asyncio.Event()
    left = Channel(a, got_a, closed.set, name="left")
    right = Channel(b, got_b, lambda: None, name="right")
    for message in MESSAGES:
        left.send(message)
    right.send(Ready("127.0.0.1", 1))
    assert await got_b.wait() == MESSAGES
    assert await got_a.wait() == [Ready("127.0.0.1", 1)]
    right.close()
    async with asyncio.timeout(5):
        await closed.wait()
    assert left.closed
    with pytest.raises(ChannelError):
        left.send(Start())


async def test_send_never_blocks_a_peer_that_is_not_reading_yet() -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    sender = Channel(a, lambda m: None, lambda: None, name="sender")
    payload = b"x" * 1000
    count = 2000  # ~2 MB: far more than the socket buffers hold
    for i in range(count):
        sender.send(Forwarded("127.0.0.1", i, payload))  # returns at once: queued
    inbox = Inbox(count)
    receiver = Channel(b, inbox, lambda: None, name="receiver")
    got = await inbox.wait()
    assert [m.port for m in got if isinstance(m, Forwarded)] == list(range(count))
    sender.close()
    receiver.close()


async def test_a_malformed_packet_is_dropped_and_the_channel_goes_on() -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    inbox = Inbox(1)
    receiver = Channel(b, inbox, lambda: None, name="receiver")
    a.send(b"Qjunk")
    a.send(encode(Start()))
    assert await inbox.wait() == [Start()]
    assert not receiver.closed
    receiver.close()
    a.close()


async def test_a_backlog_signals_pressure_and_its_end_once_drained() -> None:
    """The sender hears "stop" at HIGH_WATER queued packets and "go on" once the reader has
    drained the queue to LOW_WATER; nothing is lost and the channel stays open."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    pressure: list[bool] = []
    sender = Channel(a, lambda m: None, lambda: None, name="sender", on_pressure=pressure.append)
    count = HIGH_WATER + 100
    for i in range(count):
        sender.send(Forwarded("127.0.0.1", i % 65536, b"y" * 200))
    assert pressure == [True]  # once, however much more is queued
    inbox = Inbox(count)
    receiver = Channel(b, inbox, lambda: None, name="receiver")
    got = await inbox.wait()
    assert len(got) == count
    assert pressure == [True, False]
    assert not sender.closed
    sender.close()
    receiver.close()

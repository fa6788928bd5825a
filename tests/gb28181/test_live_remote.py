"""The worker's side of a live call: one question to the main process per opening, a device
set to another transport asked again, and answers that come after their asker gave up undone.
"""

from __future__ import annotations

import asyncio

import pytest

from sightline.config import MediaSettings
from sightline.gb28181.errors import DeviceOfflineError
from sightline.gb28181.live_channel import (
    DeviceHungUp,
    Failure,
    HangUp,
    Invite,
    Invited,
    LiveMessage,
)
from sightline.gb28181.live_remote import RemoteLive
from sightline.media.hub import StreamHub
from sightline.media.ports import RtpPortAllocator

CHANNEL = "34020000001310000001"


class Outbox(list[LiveMessage]):
    """What the worker sent to the main process; ``arrived`` is set by each message."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived = asyncio.Event()

    def send(self, message: LiveMessage) -> None:
        self.append(message)
        self.arrived.set()

    async def next(self) -> LiveMessage:
        await self.arrived.wait()
        self.arrived.clear()
        return self[-1]


def _remote(sent: Outbox) -> RemoteLive:
    return RemoteLive(
        send=sent.send,
        hub=StreamHub(grace_s=0.1, first_frame_timeout_s=1.0, no_media_timeout_s=1.0),
        ports=RtpPortAllocator.from_range((49200, 49219)),
        settings=MediaSettings(rtp_ports="49200-49219", bind_host="127.0.0.1"),
        media_host="127.0.0.1",
        platform_id="34020000002000000001",
    )


async def test_late_answers_give_back_what_they_got() -> None:
    sent = Outbox()
    remote = _remote(sent)
    assert remote.handle(Invited(42, "call-7@host", 200, "v=0\r\n", "3402" * 5, "0200000007"))
    assert remote.handle(Invited(44, failure=Failure("rejected", "486 Busy Here", 486)))
    assert remote.handle(DeviceHungUp("no-such-call"))
    assert sent == [HangUp("call-7@host")]
    assert not remote.handle(HangUp("x"))  # not an answer: for the caller to handle


async def test_the_receiver_listens_before_the_one_question() -> None:
    sent = Outbox()
    remote = _remote(sent)
    opening = asyncio.ensure_future(remote.open_upstream(CHANNEL))
    invite = await sent.next()
    assert isinstance(invite, Invite) and invite.channel_id == CHANNEL
    assert invite.transport == "udp" and 49200 <= invite.port <= 49219
    remote.handle(Invited(invite.req, failure=Failure("offline", "device X is offline")))
    with pytest.raises(DeviceOfflineError, match="offline"):
        await opening
    assert sent == [invite]  # nothing to give back: the main process booked nothing


async def test_a_device_on_another_transport_is_asked_again_with_that_receiver() -> None:
    sent = Outbox()
    remote = _remote(sent)
    opening = asyncio.ensure_future(remote.open_upstream(CHANNEL))
    first = await sent.next()
    assert isinstance(first, Invite) and first.transport == "udp"
    remote.handle(Invited(first.req, failure=Failure("transport", "tcp-passive")))
    second = await sent.next()
    assert isinstance(second, Invite) and second.transport == "tcp-passive"
    opening.cancel()
    await asyncio.gather(opening, return_exceptions=True)
    # the answer to the cancelled question: the call is hung up, the SSRC freed with it
    remote.handle(Invited(second.req, "call-8@host", 200, "v=0\r\n", "3402" * 5, "0200000008"))
    assert sent[-1] == HangUp("call-8@host")


async def test_a_lost_main_process_fails_the_opening() -> None:
    sent = Outbox()
    remote = _remote(sent)
    opening = asyncio.ensure_future(remote.open_upstream(CHANNEL))
    await sent.next()
    remote.channel_lost()
    with pytest.raises(ConnectionError, match="went away"):
        await opening

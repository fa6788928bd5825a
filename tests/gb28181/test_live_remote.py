"""The worker's side of a live call: answers that come after their asker gave up are undone."""

from __future__ import annotations

import asyncio

from sightline.config import MediaSettings
from sightline.gb28181.live_channel import (
    DeviceHungUp,
    Failure,
    HangUp,
    Invited,
    LiveMessage,
    Prepare,
    Prepared,
    Release,
)
from sightline.gb28181.live_remote import RemoteLive
from sightline.media.hub import StreamHub
from sightline.media.ports import RtpPortAllocator


class Outbox(list[LiveMessage]):
    """What the worker sent to the main process; ``first`` is set by the first message."""

    def __init__(self) -> None:
        super().__init__()
        self.first = asyncio.Event()

    def send(self, message: LiveMessage) -> None:
        self.append(message)
        self.first.set()


def _remote(sent: Outbox) -> RemoteLive:
    return RemoteLive(
        send=sent.send,
        hub=StreamHub(grace_s=0.1, first_frame_timeout_s=1.0, no_media_timeout_s=1.0),
        ports=RtpPortAllocator.from_range((49200, 49219)),
        settings=MediaSettings(rtp_ports="49200-49219", bind_host="127.0.0.1"),
        media_host="127.0.0.1",
        platform_id="34020000002000000001",
    )


async def test_late_answers_give_back_what_they_booked() -> None:
    sent = Outbox()
    remote = _remote(sent)
    assert remote.handle(Prepared(41, "34020000001320000001", "udp", "0200000007"))
    assert remote.handle(Invited(42, "call-7@host", 200, "v=0\r\n"))
    assert remote.handle(Prepared(43, failure=Failure("offline", "device is offline")))
    assert remote.handle(Invited(44, failure=Failure("rejected", "486 Busy Here", 486)))
    assert remote.handle(DeviceHungUp("no-such-call"))
    assert sent == [Release("0200000007"), HangUp("call-7@host")]
    assert not remote.handle(Release("x"))  # not an answer: for the caller to handle


async def test_an_opening_cancelled_while_waiting_releases_its_ssrc() -> None:
    sent = Outbox()
    remote = _remote(sent)
    opening = asyncio.ensure_future(remote.open_upstream("34020000001310000001"))
    await sent.first.wait()
    (prepare,) = sent
    assert isinstance(prepare, Prepare) and prepare.channel_id == "34020000001310000001"
    opening.cancel()
    await asyncio.gather(opening, return_exceptions=True)
    remote.handle(Prepared(prepare.req, "34020000001320000001", "udp", "0200000008"))
    assert sent[1:] == [Release("0200000008")]


async def test_a_lost_main_process_fails_the_opening() -> None:
    sent = Outbox()
    remote = _remote(sent)
    opening = asyncio.ensure_future(remote.open_upstream("34020000001310000001"))
    await sent.first.wait()
    remote.channel_lost()
    try:
        await opening
    except ConnectionError as exc:
        assert "went away" in str(exc)
    else:
        raise AssertionError("the opening did not fail")

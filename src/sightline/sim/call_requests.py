"""What a simulated device sends inside a call, and how MANSRTSP steers a history call.

The device ends a call it can no longer serve with a BYE, and a playback or download that
reached the end of its recording with the in-dialog MESSAGE ``MediaStatus`` 121, then waits
for the platform's BYE. Both go through the host's route to the platform; a failure is logged,
never raised (the call is over either way).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from sightline.gb28181 import mansrtsp
from sightline.sim.media_session import EndReason
from sightline.sip.dialog import Dialog
from sightline.sip.errors import SipError
from sightline.sip.fields import Via
from sightline.sip.message import Request, Response

if TYPE_CHECKING:
    from sightline.sim.calls import Call, CallHost

__all__ = ["send_bye", "send_file_end", "steer"]

log = logging.getLogger(__name__)

_TIMEOUT_S = 5.0


async def send_file_end(
    host: CallHost, call: Call, dialog: Callable[[], Dialog], serial: int
) -> None:
    """MediaStatus 121 (end of file) in the call's dialog."""
    notify = mansrtsp.end_of_file_notify(call.channel_id, serial)
    try:
        message = dialog().create_request(
            "MESSAGE",
            via=Via("UDP", "0.0.0.0"),
            body=host.manscdp_body(notify),
            headers=[("Content-Type", "Application/MANSCDP+xml")],
        )
        answer = await _send(host, call, message)
        log.info(
            "channel %s: end of file sent for call %s: %d",
            call.channel_id,
            call.call_id,
            answer.status,
        )
    except (SipError, OSError) as exc:
        log.info("channel %s: MediaStatus for %s failed: %s", call.channel_id, call.call_id, exc)


async def send_bye(host: CallHost, call: Call, dialog: Callable[[], Dialog]) -> None:
    """End the call from the device's side."""
    try:
        answer = await _send(host, call, dialog().create_request("BYE", via=Via("UDP", "0.0.0.0")))
        log.info(
            "channel %s: sent BYE for call %s: %d", call.channel_id, call.call_id, answer.status
        )
    except (SipError, OSError) as exc:
        log.info("channel %s: BYE for call %s failed: %s", call.channel_id, call.call_id, exc)


async def _send(host: CallHost, call: Call, request: Request) -> Response:
    endpoint, peer = await host.route(call.device)
    request.headers.remove("Via")  # the endpoint adds its own
    return await endpoint.request(request, peer, timeout_s=_TIMEOUT_S)


def steer(call: Call, command: mansrtsp.MansrtspRequest) -> None:
    """Apply a MANSRTSP request to a history call: pause, resume, seek, scale or teardown."""
    feed = call.feed
    assert feed is not None
    if command.method is mansrtsp.Method.PAUSE:
        feed.pause()
    elif command.method is mansrtsp.Method.TEARDOWN:
        call.session.stop(EndReason.BYE)
    else:
        if command.scale is not None:
            feed.set_scale(command.scale)
        if command.range is not None and command.range.start is not None:
            feed.seek(command.range.start)
        elif command.range is not None or command.scale is None:
            feed.resume()

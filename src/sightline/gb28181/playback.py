"""One Playback or Download call to a device, as a hub upstream with VCR controls.

    DeviceRecordSource.open_playback ─▶ LiveService.open_call(s=Playback offer, history SSRC)
        ─▶ DevicePlayback: frames from the receiver; pause/resume/seek/scale ─▶ INFO (MANSRTSP)
    device MESSAGE MediaStatus 121 (end of file) ─▶ :meth:`DevicePlayback.end_of_file`
        ─▶ the receiver hands out what it holds, then ``frames`` ends without an error
    hub closes the upstream ─▶ BYE (unless the device hung up), port and SSRC released

Media-loss detection is done here rather than by the hub: a paused session legitimately sends
nothing, so the hub holding playback streams runs with a long ``no_media_timeout_s`` and this
upstream raises :class:`~sightline.media.hub.NoMediaError` itself when media stops while
playing, and :class:`~sightline.media.hub.StreamEndedError` when a pause lasts longer than
``max_pause_s``.

The device's clock is not trusted for position: a seek is sent as ``Range: npt=<s>-``, seconds
after the start the INVITE asked for, which is how devices and other platforms read it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime

from sightline.gb28181.errors import DeviceRejectedError
from sightline.gb28181.live import LiveUpstream
from sightline.gb28181.live_dialog import MediaCall, MediaCalls
from sightline.gb28181.mansrtsp import CONTENT_TYPE, MansrtspRequest, PlaybackControl
from sightline.media.hub import NoMediaError, StreamEndedError
from sightline.media.playback import SCALES
from sightline.media.ps_frames import AccessUnit

__all__ = ["DevicePlayback"]

log = logging.getLogger(__name__)


class DevicePlayback:
    """A device's history stream (Playback or Download) for the hub or an export."""

    def __init__(
        self,
        upstream: LiveUpstream,
        calls: MediaCalls,
        *,
        start: datetime,
        end: datetime,
        no_media_timeout_s: float,
        max_pause_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.upstream = upstream
        self.start = start
        self.end = end
        self.paused = False
        self.scale = 1.0
        self.ended_by_eof = False
        self._calls = calls
        self._control = PlaybackControl()
        self._no_media_s = no_media_timeout_s
        self._max_pause_s = max_pause_s
        self._clock = clock
        self._quiet_since = clock()  # last frame, or last control that restarted the media
        self.on_close: Callable[[], object] | None = None

    @property
    def call(self) -> MediaCall:
        """The SIP call behind the session (always this process's: playback is not relayed)."""
        call = self.upstream.call
        assert isinstance(call, MediaCall)
        return call

    @property
    def label(self) -> str:
        """``channel of device`` for log lines."""
        return self.upstream.label

    # -- media ------------------------------------------------------------------------------

    async def frames(self) -> AsyncIterator[AccessUnit]:
        """The device's access units; ends quietly at the end of the file."""
        inner = self.upstream.frames().__aiter__()
        pending: asyncio.Future[AccessUnit] | None = None
        try:
            while True:
                if pending is None:
                    pending = asyncio.ensure_future(anext(inner))
                done, _ = await asyncio.wait({pending}, timeout=self._wait_s())
                if not done:
                    self._check_silence()
                    continue
                try:
                    unit = pending.result()
                except StopAsyncIteration:
                    return
                except StreamEndedError:
                    if self.ended_by_eof:
                        return
                    raise
                finally:
                    pending = None
                self._quiet_since = self._clock()
                yield unit
        finally:
            if pending is not None:
                pending.cancel()
                with contextlib.suppress(BaseException):
                    await pending

    def _wait_s(self) -> float:
        limit = self._max_pause_s if self.paused else self._no_media_s
        return max(0.05, self._quiet_since + limit - self._clock())

    def _check_silence(self) -> None:
        quiet = self._clock() - self._quiet_since
        if self.paused and quiet >= self._max_pause_s:
            raise StreamEndedError(f"{self.label}: paused for over {self._max_pause_s:g} s")
        if not self.paused and quiet >= self._no_media_s:
            raise NoMediaError(f"{self.label}: no media for {self._no_media_s:g} s")

    def end_of_file(self) -> None:
        """The device reported the end of the file (MediaStatus 121)."""
        if self.ended_by_eof:
            return
        self.ended_by_eof = True
        log.info("%s: end of file (call %s)", self.label, self.call.call_id)
        self.upstream.stop_receiving()

    async def close(self) -> None:
        """BYE (unless the device hung up) and release the port and SSRC."""
        if self.on_close is not None:
            self.on_close()
        await self.upstream.close()

    # -- VCR controls ---------------------------------------------------------------------

    async def pause(self) -> None:
        """``PAUSE`` with ``PauseTime: now``."""
        await self._send(self._control.pause())
        self.paused = True
        self._quiet_since = self._clock()

    async def resume(self) -> None:
        """``PLAY`` with ``Range: npt=now-``."""
        await self._send(self._control.resume())
        self._restarted()

    async def seek(self, offset_s: float) -> None:
        """``PLAY`` with ``Range: npt=<offset>-`` (seconds after the session's start)."""
        length = (self.end - self.start).total_seconds()
        if not 0 <= offset_s < length:
            raise ValueError(f"seek offset {offset_s:g} s is outside 0..{length:g} s")
        await self._send(self._control.seek(offset_s))
        self._restarted()

    async def set_scale(self, scale: float) -> None:
        """``PLAY`` with ``Scale: <x>``."""
        if scale not in SCALES:
            raise ValueError(f"scale {scale:g} is not one of {', '.join(f'{s:g}' for s in SCALES)}")
        await self._send(self._control.speed(scale))
        self.scale = scale

    def _restarted(self) -> None:
        self.paused = False
        self._quiet_since = self._clock()

    async def _send(self, command: MansrtspRequest) -> None:
        response = await self._calls.send_in_dialog(self.call, "INFO", CONTENT_TYPE, bytes(command))
        log.info(
            "%s: %s (MANSRTSP CSeq %d) answered %d",
            self.label,
            command.method.value,
            command.cseq,
            response.status,
        )
        if response.status >= 300:
            raise DeviceRejectedError(
                f"device {self.call.device_id} refused {command.method.value}: "
                f"{response.status} {response.reason}",
                status=response.status,
            )

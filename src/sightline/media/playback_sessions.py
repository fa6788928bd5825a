"""Playback sessions: who opened which recorded stream, delivered through a StreamHub.

A session is one :class:`~sightline.media.playback.PlaybackUpstream` from a record source,
published in the hub under ``StreamKey(channel_id, "playback-<session id>")``, so players get it
exactly like live video (same fMP4 packaging, GOP cache, slow-viewer handling). The session
belongs to the user who opened it: only they may play, steer or close it.

Opening joins the stream at once (so a refused INVITE is an error of the request) and leaves
it: the hub's grace period keeps it for the player that connects next, and ends it when none
does. The session is forgotten when its upstream closes, whatever closed it (grace over, end of
file, device BYE, media loss, :meth:`PlaybackSessions.close`). One user holds at most
``max_per_owner`` sessions (each is a device call and an RTP port): more is SessionLimit.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime

from sightline.media.errors import MediaError
from sightline.media.hub import StreamHub, StreamKey
from sightline.media.playback import (
    PlaybackUpstream,
    RecordSource,
    RecordSourceName,
)
from sightline.media.ps_frames import AccessUnit

__all__ = [
    "PlaybackSession",
    "PlaybackSessions",
    "SessionLimit",
    "SessionNotFound",
    "SourceNotEnabled",
]

log = logging.getLogger(__name__)


class SessionNotFound(MediaError, LookupError):
    """No such session, it has ended, or it belongs to someone else."""


class SessionLimit(MediaError):
    """The user already holds as many playback sessions as one user may."""


class SourceNotEnabled(MediaError, LookupError):
    """The asked record source is not configured on this node."""


@dataclass(eq=False)
class PlaybackSession:
    """One user's playback of one channel's recording."""

    id: str
    owner_id: int
    username: str
    channel_id: str
    source: RecordSourceName
    start: datetime
    end: datetime
    upstream: PlaybackUpstream | None = field(default=None, repr=False)
    ended: bool = False
    paused: bool = False
    scale: float = 1.0
    eof: bool = False  # ended because the recording was played to its end

    @property
    def key(self) -> StreamKey:
        """The session's stream in the hub."""
        return StreamKey(self.channel_id, f"playback-{self.id}")


class _Tracked:
    """The source's upstream, reporting to its session when it ends."""

    def __init__(
        self, upstream: PlaybackUpstream, session: PlaybackSession, owner: PlaybackSessions
    ):
        self._upstream = upstream
        self._session = session
        self._owner = owner

    async def frames(self) -> AsyncIterator[AccessUnit]:
        async for unit in self._upstream.frames():
            yield unit
        if not self._session.ended:
            self._session.eof = True  # ended by itself, without an error: end of the recording

    async def close(self) -> None:
        self._owner.forget(self._session)
        await self._upstream.close()

    async def pause(self) -> None:
        await self._upstream.pause()
        self._session.paused = True

    async def resume(self) -> None:
        await self._upstream.resume()
        self._session.paused = False

    async def seek(self, offset_s: float) -> None:
        await self._upstream.seek(offset_s)
        self._session.paused = False

    async def set_scale(self, scale: float) -> None:
        await self._upstream.set_scale(scale)
        self._session.scale = scale


class PlaybackSessions:
    """The node's playback sessions (see the module docstring)."""

    def __init__(
        self,
        hub: StreamHub,
        sources: dict[RecordSourceName, RecordSource],
        *,
        max_per_owner: int = 8,
    ) -> None:
        self.hub = hub
        self.sources = sources
        self.max_per_owner = max_per_owner
        self._sessions: dict[str, PlaybackSession] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    def source(self, name: RecordSourceName) -> RecordSource:
        """The record source called ``name``; SourceNotEnabled if this node has none."""
        found = self.sources.get(name)
        if found is None:
            raise SourceNotEnabled(f"{name.value} recording is not enabled on this node")
        return found

    async def open(
        self,
        *,
        owner_id: int,
        username: str,
        channel_id: str,
        source: RecordSourceName,
        start: datetime,
        end: datetime,
    ) -> PlaybackSession:
        """Start playing; raises what the source raises (device offline, refused...).

        SessionLimit when ``owner_id`` already holds ``max_per_owner`` sessions.
        """
        record_source = self.source(source)
        held = sum(1 for s in self._sessions.values() if s.owner_id == owner_id)
        if held >= self.max_per_owner:
            raise SessionLimit(
                f"{username} already has {held} playback sessions open (at most "
                f"{self.max_per_owner}): close one first"
            )
        session = PlaybackSession(
            secrets.token_urlsafe(12), owner_id, username, channel_id, source, start, end
        )

        async def opener() -> _Tracked:
            upstream = await record_source.open_playback(channel_id, start, end)
            session.upstream = _Tracked(upstream, session, self)
            return session.upstream

        self._sessions[session.id] = session
        try:
            viewer = await self.hub.join(session.key, opener)
        except BaseException:
            self._sessions.pop(session.id, None)
            raise
        self.hub.leave(viewer)  # the grace period waits for the player
        log.info(
            "playback %s of %s (%s, %s to %s) opened for %r",
            session.id,
            channel_id,
            source.value,
            start.isoformat(),
            end.isoformat(),
            username,
        )
        return session

    def get(self, session_id: str, owner_id: int | None) -> PlaybackSession:
        """The running session ``session_id`` of ``owner_id`` (None: any owner)."""
        session = self._sessions.get(session_id)
        if (
            session is None
            or session.ended
            or (owner_id is not None and session.owner_id != owner_id)
        ):
            raise SessionNotFound(f"playback session {session_id[:40]!r} is not running")
        return session

    def forget(self, session: PlaybackSession) -> None:
        """Mark the session ended (its upstream closed)."""
        session.ended = True
        if self._sessions.get(session.id) is session:
            del self._sessions[session.id]
            log.info("playback %s of %s ended", session.id, session.channel_id)

    async def close(self, session: PlaybackSession) -> None:
        """End the session now (its players get the end of the stream)."""
        upstream = session.upstream
        self.forget(session)
        if upstream is not None:
            await upstream.close()

    async def close_all(self) -> None:
        """End every session (shutdown)."""
        for session in list(self._sessions.values()):
            await self.close(session)

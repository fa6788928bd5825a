"""What the RTSP server asks of a node: may this token watch, and which picture it gets.

The RTSP server (``sightline.media.rtsp_server``) knows nothing of users; :class:`RtspGate`
answers its two hooks with the node's stream tokens, access model and live services:
``authorize`` verifies the token for a live view of the channel, ``view`` opens the channel's
shared stream, masked unless the token's holder may see it unmasked (decided as the browser
routes decide: ``decide``, since a masked view is a normal outcome, not an audited denial).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from sightline.access.actions import Action, Principal, Resource
from sightline.access.service import AuthService
from sightline.access.stream_tokens import StreamAction, StreamTokens
from sightline.access.tokens import TokenError
from sightline.analytics.masked_stream import MaskedStreams
from sightline.gb28181.errors import Gb28181Error
from sightline.gb28181.live import LiveService, UnknownChannelError
from sightline.media.hub import StreamError, Viewer

__all__ = ["RtspGate"]

log = logging.getLogger(__name__)


class RtspGate:
    """The RTSP server's ``authorize`` and ``open_view`` hooks for one node."""

    def __init__(
        self,
        live: LiveService | None,
        masked: MaskedStreams | None,
        tokens: StreamTokens | None,
        auth: AuthService | None,
    ) -> None:
        self.live = live
        self.masked = masked
        self.tokens = tokens
        self.auth = auth

    def authorize(self, token: str, channel_id: str, client: str) -> bool:
        """Whether ``token`` is a valid live-view token for ``channel_id`` from ``client``."""
        if self.tokens is None:
            return False
        try:
            self.tokens.verify(
                token, channel_id=channel_id, action=StreamAction.LIVE, client=client
            )
        except TokenError as exc:
            log.info("RTSP view of %s refused to %s: %s", channel_id, client, exc)
            return False
        return True

    @contextlib.asynccontextmanager
    async def view(self, channel_id: str, token: str, client: str) -> AsyncIterator[Viewer]:
        """The channel's live units for this token's holder (LookupError: unknown channel)."""
        if self.live is None:
            raise LookupError(channel_id)
        masked = self.masked
        if masked is not None and (
            not await masked.needs_mask(channel_id)
            or await self._unmasked(channel_id, token, client)
        ):
            masked = None
        try:
            view = masked.view(channel_id) if masked is not None else self.live.view(channel_id)
            async with view as viewer:
                yield viewer
        except UnknownChannelError as exc:
            raise LookupError(str(exc)) from exc
        except Gb28181Error as exc:  # offline, rejected, timed out: "503" to the RTSP client
            raise StreamError(str(exc)) from exc

    async def _unmasked(self, channel_id: str, token: str, client: str) -> bool:
        if self.tokens is None or self.auth is None:
            return False
        try:
            claims = self.tokens.verify(
                token, channel_id=channel_id, action=StreamAction.LIVE, client=client
            )
        except TokenError:
            return False  # revoked between authorisation and now: the masked picture at most
        principal = Principal(claims.user_id, claims.username, is_admin=False, address=client)
        decision = await self.auth.decide(principal, Action.UNMASKED, Resource.channel(channel_id))
        if not decision.allowed:
            log.info("RTSP view of %s by %r from %s is masked", channel_id, claims.username, client)
        return decision.allowed

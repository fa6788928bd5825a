"""The main process's side of its media workers: wiring, and access control for their views.

:class:`~sightline.gb28181.live_workers.MediaWorkers` runs the processes; what it asks of
access control is here (:class:`WorkerViews`), because only the main process holds grants,
logins, revocations and the audit chain:

* **admission**: before a worker serves a view's first frame it asks whether the stream
  token still holds (``StreamTokens.check``: revoked token, login, grant, policy) and whether
  its holder may see the channel unmasked. Masked views are the main process's (POST /live
  gives their holders play URLs on the main port), so a holder to be masked is refused here
  with a sentence saying to ask for a new play URL;
* **re-checks**: a worker reports the claims of its running views once a second
  (``Watching``); every second they are checked as an in-process view checks its own, and a
  failure is sent back (``Revoked``), which ends the view at its next token check;
* **audit**: the events of a worker's views go into the chain as if recorded here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sightline.access.audit_events import AuditAction, AuditEvent, AuditOutcome, AuditSink
from sightline.access.service import Action, AuthService, Principal, Resource
from sightline.access.stream_tokens import (
    StreamClaims,
    StreamTokens,
    claims_from_fields,
    status_for,
)
from sightline.access.tokens import RevokedToken, TokenError
from sightline.config import Settings
from sightline.gb28181.live import LiveService, advertised_media_host
from sightline.gb28181.live_channel import MediaWorkerConfig
from sightline.gb28181.live_workers import MediaWorkers, WorkerHooks, split_ports

__all__ = ["WorkerViews", "start_media_workers"]

log = logging.getLogger(__name__)

_SWEEP_S = 1.0
_WATCH_S = 10.0  # a view not reported for this long has ended


@dataclass
class _Watch:
    worker: int
    claims: StreamClaims
    seen: float


class WorkerViews:
    """Access control for the views the media workers serve; see the module docstring."""

    def __init__(
        self,
        *,
        auth: AuthService,
        tokens: StreamTokens,
        masks: bool,
        audit: AuditSink | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._auth = auth
        self._tokens = tokens
        self._masks = masks
        self._audit = audit
        # (worker index, token id, reason): MediaWorkers.revoke, set once the workers exist
        self.revoke: Callable[[int, str, str], None] | None = None
        self._clock = clock
        self._watched: dict[str, _Watch] = {}

    def hooks(self) -> WorkerHooks:
        """What MediaWorkers calls."""
        return WorkerHooks(admit=self.admit, watching=self.watching, audit=self.audit)

    async def admit(self, fields: dict[str, Any]) -> tuple[str | None, int]:
        """(refusal, HTTP status) for a view about to start; refusal None: it may run."""
        try:
            claims = claims_from_fields(fields)
            self._tokens.check(claims)
        except TokenError as exc:
            return str(exc), status_for(exc)
        if self._masks:
            principal = Principal(
                claims.user_id, claims.username, is_admin=False, address=claims.client
            )
            resource = Resource.channel(claims.channel_id)
            decision = await self._auth.decide(principal, Action.UNMASKED, resource)
            if not decision.allowed:
                return (
                    f"the view of {claims.channel_id} is masked for you and is not served "
                    "here: ask for a new play URL",
                    403,
                )
        return None, 200

    def watching(self, worker: int, claims: list[dict[str, Any]]) -> None:
        """Claims of views running in ``worker``, to re-check."""
        now = self._clock()
        for fields in claims:
            with contextlib.suppress(TokenError):
                parsed = claims_from_fields(fields)
                self._watched[parsed.token_id] = _Watch(worker, parsed, now)

    def audit(self, fields: dict[str, Any]) -> None:
        """Record a worker view's audit event."""
        if self._audit is None:
            return
        try:
            values = dict(fields)
            values["action"] = AuditAction(values["action"])
            values["outcome"] = AuditOutcome(values["outcome"])
            values["at"] = datetime.fromisoformat(values["at"])
            event = AuditEvent(**values)
        except (KeyError, TypeError, ValueError) as exc:
            log.error("a media worker sent an unreadable audit event: %s", exc)
            return
        self._audit.record(event)

    def sweep(self) -> None:
        """Re-check every running view once; tell the workers which no longer hold."""
        now = self._clock()
        model = self._auth.access
        for token_id, watch in list(self._watched.items()):
            if now - watch.seen > _WATCH_S:
                del self._watched[token_id]
                continue
            claims = watch.claims
            try:
                self._tokens.check(claims)
                if self._masks:
                    resource = Resource.channel(claims.channel_id)
                    if not model.decide_now(claims.user_id, Action.UNMASKED, resource).allowed:
                        raise RevokedToken(
                            f"the right to see {claims.channel_id} unmasked was withdrawn: "
                            "start the view again for the masked picture"
                        )
            except TokenError as exc:
                del self._watched[token_id]
                if self.revoke is not None:
                    self.revoke(watch.worker, token_id, str(exc))

    async def run(self) -> None:
        """Sweep every second until cancelled."""
        while True:
            await asyncio.sleep(_SWEEP_S)
            try:
                self.sweep()
            except Exception:
                log.exception("re-checking the media workers' views failed")


async def start_media_workers(
    settings: Settings,
    *,
    server_key: bytes,
    live: LiveService,
    auth: AuthService,
    tokens: StreamTokens,
    masks: bool,
    audit: AuditSink | None,
    ws_max_message: int,
) -> tuple[MediaWorkers, WorkerViews]:
    """Start ``media.workers`` media workers (the caller runs ``WorkerViews.run``)."""
    media, http = settings.media, settings.http
    count = media.workers
    config = MediaWorkerConfig(
        index=0,
        rtp_ports=(0, 0),
        bind_host=media.bind_host,
        media_host=advertised_media_host(settings),
        platform_id=settings.sip.id,
        http_host=http.host,
        http_port=0,
        token_key=server_key.hex(),
        token_ttl_s=media.token_ttl_s,
        token_bind_client=media.token_bind_client,
        grace_s=media.grace_s,
        first_frame_timeout_s=media.first_frame_timeout_s,
        no_media_timeout_s=media.no_media_timeout_s,
        accept_ssrc_mismatch=media.accept_ssrc_mismatch,
        invite_timeout_s=media.invite_timeout_s,
        ws_max_message=ws_max_message,
        transport=media.transport,
        tls_cert=str(http.tls_cert) if http.tls_cert is not None else None,
        tls_key=str(http.tls_key) if http.tls_key is not None else None,
        log_level=settings.log.level,
        log_json=settings.log.json_output,
    )
    views = WorkerViews(auth=auth, tokens=tokens, masks=masks, audit=audit)
    workers = MediaWorkers(
        count=count,
        config=config,
        http_port=media.worker_http_port,
        port_slices=split_ports(*media.rtp_port_range, count),
        live=live,
        hooks=views.hooks(),
    )
    views.revoke = workers.revoke
    await workers.start()
    return workers, views

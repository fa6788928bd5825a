"""Notifications of the access workflow: in-app messages and signed webhooks.

In-app messages are rows in ``notifications`` (``GET /api/v1/notifications``). Webhooks are
POSTed as JSON to every configured URL by a background task, so a slow or dead receiver never
holds up the request that caused the event: ``publish`` only queues. A delivery is retried
with exponential back-off (``retries`` times) on a network error or a non-2xx answer.

The body is ``{"event": "...", "at": "<ISO time>", "data": {...}}``; the header
``X-Sightline-Signature: sha256=<hex HMAC-SHA256 of the body with the webhook secret>`` lets
the receiver check it came from this server, ``X-Sightline-Event`` names the event.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from sightline.store import Database
from sightline.store.repositories.access import AccessRepository, Notification

__all__ = ["Notifier", "WebhookSettings", "sign_body"]

log = logging.getLogger(__name__)

JsonValue = str | int | float | bool | None | list[str] | list[int]


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """Where and how webhooks are delivered."""

    urls: tuple[str, ...] = ()
    secret: bytes = b""
    timeout_s: float = 5.0
    retries: int = 5
    backoff_s: float = 1.0
    queue_size: int = 1000


def sign_body(secret: bytes, body: bytes) -> str:
    """The ``X-Sightline-Signature`` header value for ``body``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class Notifier:
    """Writes in-app notifications and delivers webhooks in the background."""

    def __init__(self, database: Database, webhooks: WebhookSettings = WebhookSettings()) -> None:
        self.database = database
        self.webhooks = webhooks
        self._queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(webhooks.queue_size)
        self._task: asyncio.Task[None] | None = None
        self.delivered = 0
        self.failed = 0

    def start(self) -> None:
        """Start the webhook delivery task (when URLs are configured)."""
        if self.webhooks.urls and self._task is None:
            self._task = asyncio.ensure_future(self._deliver_forever())

    async def close(self) -> None:
        """Stop delivering (queued webhooks are dropped)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def notify(
        self,
        user_ids: Iterable[int],
        event: str,
        text: str,
        data: Mapping[str, JsonValue],
        *,
        request_id: int | None = None,
        grant_id: str | None = None,
    ) -> None:
        """Tell ``user_ids`` in the app, and every webhook, that ``event`` happened."""
        users = sorted(set(user_ids))
        async with self.database.session() as session:
            await AccessRepository(session).notify(
                users,
                event,
                text,
                datetime.now(UTC),
                request_id=request_id,
                grant_id=grant_id,
            )
        self.publish(event, {**data, "text": text, "users": users})

    async def inbox(
        self, user_id: int, *, unread_only: bool = False, limit: int = 100
    ) -> list[Notification]:
        """A user's in-app notifications, newest first."""
        async with self.database.session() as session:
            return await AccessRepository(session).notifications(
                user_id, unread_only=unread_only, limit=limit
            )

    async def mark_read(self, user_id: int, notification_ids: Iterable[int], now: datetime) -> int:
        """Mark some of the user's notifications read; how many changed."""
        async with self.database.session() as session:
            return await AccessRepository(session).mark_read(user_id, notification_ids, now)

    def publish(self, event: str, data: Mapping[str, JsonValue]) -> None:
        """Queue ``event`` for the webhooks; never blocks (a full queue drops the event)."""
        if not self.webhooks.urls:
            return
        body = {"event": event, "at": datetime.now(UTC).isoformat(), "data": dict(data)}
        encoded = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        try:
            self._queue.put_nowait((event, encoded))
        except asyncio.QueueFull:
            self.failed += 1
            log.warning("webhook queue full, event %s dropped", event)

    async def _deliver_forever(self) -> None:
        async with httpx.AsyncClient(timeout=self.webhooks.timeout_s) as client:
            while True:
                event, body = await self._queue.get()
                for url in self.webhooks.urls:
                    await self._deliver(client, url, event, body)

    async def _deliver(self, client: httpx.AsyncClient, url: str, event: str, body: bytes) -> None:
        headers = {
            "Content-Type": "application/json",
            "X-Sightline-Event": event,
            "X-Sightline-Signature": sign_body(self.webhooks.secret, body),
        }
        delay = self.webhooks.backoff_s
        for attempt in range(1, self.webhooks.retries + 2):
            try:
                response = await client.post(url, content=body, headers=headers)
                if response.is_success:
                    self.delivered += 1
                    return
                problem = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                problem = type(exc).__name__
            log.info("webhook %s to %s failed (attempt %d): %s", event, url, attempt, problem)
            if attempt <= self.webhooks.retries:
                await asyncio.sleep(delay)
                delay *= 2
        self.failed += 1
        log.warning("webhook %s to %s given up after %d attempts", event, url, attempt)

"""Notifications: in-app rows and signed webhooks delivered in the background with retries.

The webhook receiver is a real HTTP server on 127.0.0.1 (asyncio streams); the first answers
fail with 500 to exercise the retries.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from sightline.access.notify import Notifier, WebhookSettings, sign_body
from sightline.store import Database, UserRepository
from sightline.store.repositories.access import AccessRepository

SECRET = b"webhook-secret"


@dataclass
class Receiver:
    """A tiny HTTP/1.1 server recording POSTs; answers 500 ``failures`` times first."""

    failures: int = 0
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    attempts: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await self._one(reader, writer):
                pass
        finally:
            writer.close()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return False  # the client closed its connection
        lines = head.decode().split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:] if x)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.attempts += 1
        ok = self.attempts > self.failures
        if ok:
            self.received.append((headers, body))
            self.arrived.set()
        status = "204 No Content" if ok else "500 Internal Server Error"
        writer.write(f"HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n".encode())
        await writer.drain()
        return True


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver(failures=2)
    server = await asyncio.start_server(found.handle, "127.0.0.1", 0)
    found.port = server.sockets[0].getsockname()[1]
    yield found
    server.close()
    await server.wait_closed()


async def test_webhooks_are_signed_and_retried(sqlite_db: Database, receiver: Receiver) -> None:
    notifier = Notifier(
        sqlite_db,
        WebhookSettings(
            urls=(f"http://127.0.0.1:{receiver.port}/hook",), secret=SECRET, backoff_s=0.01
        ),
    )
    async with sqlite_db.session() as session:
        user = await UserRepository(session).create("someone", "x", datetime.now(UTC))
    notifier.start()
    try:
        await notifier.notify(
            [user.id], "request.created", "admin asks for live", {"request_id": 7}
        )
        await asyncio.wait_for(receiver.arrived.wait(), 10)
        for _ in range(200):
            if notifier.delivered:
                break
            await asyncio.sleep(0.01)
    finally:
        await notifier.close()
    assert receiver.attempts == 3 and notifier.delivered == 1
    headers, body = receiver.received[0]
    assert headers["x-sightline-event"] == "request.created"
    expected = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    assert headers["x-sightline-signature"] == expected == sign_body(SECRET, body)
    payload = json.loads(body)
    assert payload["event"] == "request.created"
    assert payload["data"] == {"request_id": 7, "text": "admin asks for live", "users": [user.id]}
    async with sqlite_db.session() as session:
        [note] = await AccessRepository(session).notifications(user.id)
    assert (note.kind, note.text) == ("request.created", "admin asks for live")


async def test_a_dead_receiver_never_blocks_and_is_given_up(sqlite_db: Database) -> None:
    notifier = Notifier(
        sqlite_db,
        WebhookSettings(urls=("http://127.0.0.1:9/",), retries=1, backoff_s=0.01, timeout_s=1),
    )
    notifier.start()
    try:
        notifier.publish("grant.expiring", {"grant_id": "x"})  # returns at once
        for _ in range(200):
            if notifier.failed:
                break
            await asyncio.sleep(0.02)
    finally:
        await notifier.close()
    assert notifier.failed == 1 and notifier.delivered == 0


async def test_without_urls_nothing_is_queued(sqlite_db: Database) -> None:
    notifier = Notifier(sqlite_db)
    notifier.start()
    notifier.publish("request.created", {})
    await notifier.close()
    assert (notifier.delivered, notifier.failed) == (0, 0)

"""One media worker process: live streams received, packaged and delivered on a core of its own.

Started by ``serve`` (``media.workers``; :mod:`sightline.gb28181.live_workers` has the whole
picture) as ``python -m sightline.cli.media_worker CONTROL_FD RELAY_FD``. It builds:

* a :class:`~sightline.media.hub.StreamHub` and :class:`~sightline.gb28181.live_remote.RemoteLive`
  on its slice of the RTP ports (the INVITE is the main process's);
* the stream-token checker (the key comes with the configuration; what a token was issued
  under is re-checked by the main process: :class:`RemoteVerdicts`);
* the live fMP4 routes on an HTTP listener of its own (``api.app.create_media_app``), their
  audit events sent to the main process's chain;
* the relay: access units of a channel for the main process (recording, RTSP, masked views).

It ends when the main process closes the control channel (or goes away).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket
import time
from dataclasses import asdict
from typing import Any

from sightline.access.audit_events import AuditEvent
from sightline.access.stream_tokens import (
    StreamClaims,
    StreamTokens,
    claims_to_fields,
)
from sightline.access.tokens import RevokedToken
from sightline.api.app import create_media_app
from sightline.api.runtime_metrics import LoopLag
from sightline.config import MediaSettings
from sightline.gb28181.live_channel import (
    REPORT_CHUNK,
    Admit,
    Admitted,
    AuditRecord,
    Failure,
    LiveMessage,
    MediaWorkerConfig,
    RelayClose,
    RelayOpen,
    Revoked,
    Streams,
    Watching,
    WorkerReady,
    decode,
    encode,
    failure_of_error,
    snapshot_to_wire,
)
from sightline.gb28181.live_remote import RemoteLive
from sightline.gb28181.packet_channel import PacketChannel
from sightline.media.hub import StreamHub, StreamKey
from sightline.media.ports import RtpPortAllocator
from sightline.media.unit_wire import encode_end, encode_unit
from sightline.node_http import EmbeddedHttp

__all__ = ["RemoteVerdicts", "serve_media_worker"]

log = logging.getLogger(__name__)

_REPORT_S = 1.0
_RELAY_HIGH_WATER = 4 * 1024 * 1024  # bytes queued towards the main process before waiting


class RemoteVerdicts:
    """The worker's part of token revocation: the main process holds grants, logins and
    revocations, so every running view's claims are reported to it (``Watching``, once a
    second, for the views that checked their token since) and its verdicts (``Revoked``) are
    what the next check of that token raises."""

    def __init__(self) -> None:
        self._watched: dict[str, StreamClaims] = {}
        self._revoked: dict[str, tuple[str, float]] = {}

    def __call__(self, claims: StreamClaims) -> None:
        """A token check (``StreamTokens.add_revocation_check``)."""
        self._watched[claims.token_id] = claims
        verdict = self._revoked.get(claims.token_id)
        if verdict is not None:
            raise RevokedToken(verdict[0])

    def revoke(self, token_id: str, reason: str, now: float) -> None:
        """The main process's verdict; kept for an hour (longer than a token lives)."""
        self._revoked[token_id] = (reason, now + 3600.0)
        for stale in [t for t, (_r, until) in self._revoked.items() if until < now]:
            del self._revoked[stale]

    def report(self) -> list[Watching]:
        """The claims checked since the last report, in packets of REPORT_CHUNK."""
        claims = [claims_to_fields(c) for c in self._watched.values()]
        self._watched.clear()
        return [Watching(claims[i : i + REPORT_CHUNK]) for i in range(0, len(claims), REPORT_CHUNK)]


class _AuditForwarder:
    """``app.state.audit`` of the worker: events go to the main process's chain."""

    def __init__(self, send: Any) -> None:
        self._send = send

    def record(self, event: AuditEvent) -> None:
        fields = asdict(event)
        fields["action"] = event.action.value
        fields["outcome"] = event.outcome.value
        fields["at"] = event.at.isoformat()
        with contextlib.suppress(Exception):  # never raises (AuditSink); the channel logs
            self._send(AuditRecord(fields))


class _Worker:
    """The process's parts, wired; ``run`` serves until the control channel closes."""

    def __init__(self, config: MediaWorkerConfig, control: socket.socket, relay: socket.socket):
        self.config = config
        self._closed = asyncio.Event()
        self.channel: PacketChannel[LiveMessage] = PacketChannel(
            control,
            self._on_message,
            self._closed.set,
            name="main process",
            encode=encode,
            decode=decode,
        )
        settings = MediaSettings(
            rtp_ports=f"{config.rtp_ports[0]}-{config.rtp_ports[1]}",
            bind_host=config.bind_host,
            transport=config.transport,
            accept_ssrc_mismatch=config.accept_ssrc_mismatch,
            invite_timeout_s=config.invite_timeout_s,
        )
        self.hub = StreamHub(
            grace_s=config.grace_s,
            first_frame_timeout_s=config.first_frame_timeout_s,
            no_media_timeout_s=config.no_media_timeout_s,
        )
        self.live = RemoteLive(
            send=self.channel.send,
            hub=self.hub,
            ports=RtpPortAllocator.from_range(config.rtp_ports),
            settings=settings,
            media_host=config.media_host,
            platform_id=config.platform_id,
        )
        self.tokens = StreamTokens(
            bytes.fromhex(config.token_key),
            config.token_ttl_s,
            bind_client=config.token_bind_client,
        )
        self.verdicts = RemoteVerdicts()
        self.tokens.add_revocation_check(self.verdicts)
        self._admissions: dict[int, asyncio.Future[Admitted]] = {}
        self._requests = itertools.count(1)
        self._relay_sock = relay
        self._relay_writer: asyncio.StreamWriter | None = None
        self._relays: dict[int, asyncio.Task[None]] = {}
        self.lag = LoopLag()

    # -- control ------------------------------------------------------------------------------

    def _on_message(self, message: LiveMessage) -> None:
        if self.live.handle(message):
            return
        if isinstance(message, Admitted):
            future = self._admissions.pop(message.req, None)
            if future is not None and not future.done():
                future.set_result(message)
        elif isinstance(message, Revoked):
            loop = asyncio.get_running_loop()
            self.verdicts.revoke(message.token_id, message.reason, loop.time())
        elif isinstance(message, RelayOpen):
            task = asyncio.ensure_future(self._relay(message.relay_id, message.channel_id))
            self._relays[message.relay_id] = task
            relay_id = message.relay_id
            task.add_done_callback(lambda _t: self._forget_relay(relay_id, task))
        elif isinstance(message, RelayClose):
            closing = self._relays.pop(message.relay_id, None)
            if closing is not None:
                closing.cancel()
        else:
            log.error("unexpected %s from the main process", type(message).__name__)

    def _forget_relay(self, relay_id: int, task: asyncio.Task[None]) -> None:
        if self._relays.get(relay_id) is task:
            del self._relays[relay_id]

    async def admit(self, claims: StreamClaims) -> None:
        """Ask the main process whether this view may run here (raises RevokedToken if not)."""
        req = next(self._requests)
        future: asyncio.Future[Admitted] = asyncio.get_running_loop().create_future()
        self._admissions[req] = future
        try:
            self.channel.send(Admit(req, claims_to_fields(claims)))
            answer = await future
        finally:
            self._admissions.pop(req, None)
        if answer.refusal is not None:
            raise RevokedToken(answer.refusal)

    # -- relays -------------------------------------------------------------------------------

    async def _relay(self, relay_id: int, channel_id: str) -> None:
        writer = self._relay_writer
        assert writer is not None
        try:
            async with self.hub.view(StreamKey(channel_id), self.live.opener(channel_id)) as viewer:
                async for unit in viewer:
                    writer.write(encode_unit(relay_id, unit))
                    if writer.transport.get_write_buffer_size() > _RELAY_HIGH_WATER:
                        await writer.drain()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            writer.write(encode_end(relay_id, asdict(failure_of_error(exc))))
        else:
            ended = Failure("ended", f"the stream of {channel_id} ended")
            writer.write(encode_end(relay_id, asdict(ended)))

    # -- life -----------------------------------------------------------------------------------

    async def run(self) -> None:
        _reader, self._relay_writer = await asyncio.open_unix_connection(sock=self._relay_sock)
        config = self.config
        app = create_media_app(
            live=self.live,
            stream_tokens=self.tokens,
            audit=_AuditForwarder(self.channel.send),
            admission=self.admit,
        )
        http = EmbeddedHttp(
            app,
            host=config.http_host,
            port=config.http_port,
            tls_cert=config.tls_cert,
            tls_key=config.tls_key,
            ws_max_message=config.ws_max_message,
        )
        _host, port = await http.start()
        self.channel.send(WorkerReady(port))
        reports = asyncio.ensure_future(self._report())
        lag = asyncio.ensure_future(self.lag.run())
        try:
            await self._closed.wait()
        finally:
            reports.cancel()
            lag.cancel()
            await http.stop()
            for task in list(self._relays.values()):
                task.cancel()
            self.live.channel_lost()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.hub.close(), 2.0)
            self.channel.close()

    async def _report(self) -> None:
        while True:
            await asyncio.sleep(_REPORT_S)
            try:
                snapshots = [snapshot_to_wire(s) for s in self.hub.snapshot()]
                starts = range(0, len(snapshots), REPORT_CHUNK)
                lag, cpu = self.lag.recent_max, time.process_time()
                for start in starts or (0,):
                    last = start + REPORT_CHUNK >= len(snapshots)
                    part = snapshots[start : start + REPORT_CHUNK]
                    self.channel.send(Streams(part, start == 0, last, lag, cpu))
                for watching in self.verdicts.report():
                    self.channel.send(watching)
            except Exception:
                log.exception("report to the main process failed")


async def serve_media_worker(
    config: MediaWorkerConfig, control: socket.socket, relay: socket.socket
) -> None:
    """Serve live media until the main process closes the control channel."""
    await _Worker(config, control, relay).run()

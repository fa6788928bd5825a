"""Media worker processes against test cameras: a real worker process (``python -m
sightline.cli.media_worker``), the main process's SIP endpoint and LiveService on loopback,
cameras that answer INVITE and stream PS over RTP, and a WebSocket client on the worker's port.

The views a worker serves get the statuses an in-process view gets (device refused, no media,
BYE, offline, unknown channel), the main process's relay gets the same stream (one call), a
refused admission and a revoked token end a view, and a worker that dies has its calls hung
up and is started again.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import pytest
import websockets

from sightline.access.stream_tokens import StreamAction, StreamTokens
from sightline.gb28181.errors import DeviceRejectedError
from sightline.gb28181.live_channel import MediaWorkerConfig
from sightline.gb28181.live_workers import MediaWorkers, WorkerHooks, split_ports
from sightline.media.hub import is_video_key
from tests.gb28181.live_peer import AckRecordingEndpoint, MediaDevice
from tests.gb28181.live_platform import LivePlatform, start_live_platform

KEY = b"media-worker-test-key-0123456789"
# A camera sends its 200 frames once (at 25 fps: 8 s) and, after a BYE, nothing any more.
CAMERAS: dict[str, tuple[str, dict[str, Any] | None]] = {
    "34020000001310000001": ("34020000001320000001", {"interval_s": 0.04}),
    "34020000001310000002": ("34020000001320000002", {"status": 486}),
    "34020000001310000003": ("34020000001320000003", {"send_media": False}),
    "34020000001310000004": ("34020000001320000004", {"bye_after_frames": 30}),
    "34020000001310000005": ("34020000001320000005", None),  # never registered: offline
    "34020000001310000006": ("34020000001320000006", {"interval_s": 0.04}),
}
GOOD, REFUSING, SILENT, ENDING, OFFLINE, SPARE = sorted(CAMERAS)
UNKNOWN = "34020000001310000099"
PORTS = (49000, 49099)


async def _locate(channel_id: str) -> str | None:
    entry = CAMERAS.get(channel_id)
    return entry[0] if entry else None


@dataclass
class Rig:
    wired: LivePlatform
    workers: MediaWorkers
    tokens: StreamTokens
    cameras: dict[str, MediaDevice]
    audits: list[dict[str, Any]] = field(default_factory=list)
    watched: list[dict[str, Any]] = field(default_factory=list)
    refuse: str | None = None
    token_id: str = ""  # of the last URL

    def url(self, channel_id: str) -> str:
        port = self.workers.assign(channel_id)
        assert port is not None
        token, claims = self.tokens.issue(
            user_id=7,
            username="op",
            channel_id=channel_id,
            action=StreamAction.LIVE,
            client="127.0.0.1",
        )
        self.token_id = claims.token_id
        return f"ws://127.0.0.1:{port}/api/v1/media/live/{channel_id}.mp4?token={token}"


def _config() -> MediaWorkerConfig:
    return MediaWorkerConfig(
        index=0,
        rtp_ports=(0, 0),
        bind_host="127.0.0.1",
        media_host="127.0.0.1",
        platform_id="34020000002000000001",
        http_host="127.0.0.1",
        http_port=0,
        token_key=KEY.hex(),
        token_ttl_s=60.0,
        token_bind_client=True,
        grace_s=0.1,
        first_frame_timeout_s=3.0,
        no_media_timeout_s=2.0,
        accept_ssrc_mismatch=True,
        invite_timeout_s=1.0,
        ws_max_message=65536,
        log_level="WARNING",
    )


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    wired = await start_live_platform(
        tmp_path, rtp_ports=f"{PORTS[0]}-{PORTS[1]}", grace_s=0.1, locate=_locate
    )
    cameras = {}
    for channel, (device_id, behaviour) in CAMERAS.items():
        if behaviour is None:
            continue
        camera = MediaDevice(wired.platform.device(device_id, endpoint=AckRecordingEndpoint()))
        for name, value in behaviour.items():
            setattr(camera, name, value)
        await camera.start()
        cameras[channel] = camera
    holder: list[Rig] = []
    audits: list[dict[str, Any]] = []
    watched: list[dict[str, Any]] = []

    async def admit(_claims: dict[str, Any]) -> tuple[str | None, int]:
        return holder[0].refuse, 403

    hooks = WorkerHooks(
        admit=admit,
        watching=lambda _index, claims: watched.extend(claims),
        audit=audits.append,
    )
    workers = MediaWorkers(
        count=1,
        config=_config(),
        port_slices=split_ports(*PORTS, 1),
        live=wired.live,
        hooks=hooks,
    )
    rig = Rig(wired, workers, StreamTokens(KEY, 60), cameras, audits, watched)
    holder.append(rig)
    await workers.start()
    try:
        yield rig
    finally:
        await workers.stop()
        await wired.hub.close()
        await wired.calls.close()
        for camera in cameras.values():
            await camera.close()
        await wired.platform.close()


async def _play(url: str, fragments: int) -> tuple[bytes, list[dict[str, Any]]]:
    data = bytearray()
    texts: list[dict[str, Any]] = []
    count = 0
    async with websockets.connect(url, max_size=None) as ws:
        while count < fragments:
            message = await asyncio.wait_for(ws.recv(), 10)
            if isinstance(message, str):
                texts.append(json.loads(message))
            else:
                data += message
                count += 1
    return bytes(data), texts


async def _refusal(url: str) -> tuple[dict[str, Any], int]:
    """The error message and close code of a failed view."""
    error: dict[str, Any] = {}
    with contextlib.suppress(websockets.exceptions.ConnectionClosed):
        async with websockets.connect(url, max_size=None) as ws:
            while True:
                message = await asyncio.wait_for(ws.recv(), 15)
                if isinstance(message, str) and json.loads(message)["type"] == "error":
                    error = json.loads(message)
    assert ws.close_code is not None
    return error, ws.close_code


async def _until(check: Any, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


def test_the_port_range_is_cut_in_even_slices() -> None:
    assert split_ports(30000, 30999, 0) == [(30000, 30999)]
    assert split_ports(30000, 30999, 1) == [(30000, 30499), (30500, 30999)]
    slices = split_ports(30000, 30999, 3)
    assert [low % 2 for low, _ in slices] == [0, 0, 0, 0]
    assert slices[0][0] == 30000 and slices[-1][1] == 30999
    with pytest.raises(ValueError, match="too small"):
        split_ports(30000, 30002, 1)


async def test_a_worker_plays_a_camera_and_the_main_process_relays_it(rig: Rig) -> None:
    data, texts = await _play(rig.url(GOOD), 30)
    assert [t["state"] for t in texts if t["type"] == "status"] == [
        "connecting",
        "waiting",
        "playing",
    ]
    with av.open(io.BytesIO(data), "r", format="mp4") as container:
        assert len(list(container.decode(video=0))) >= 25
    assert [e["action"] for e in rig.audits][:1] == ["live.start"]
    # the worker's own health, for /metrics, from its once-a-second report
    await _until(lambda: rig.workers.health()[0].cpu_s > 0)
    (health,) = rig.workers.health()
    assert health.up and 0 <= health.loop_lag_s < 5
    await _until(lambda: [e["action"] for e in rig.audits][-1:] == ["live.stop"])
    # the relay: the main process's own viewer of the channel, from the worker's stream
    assert is_video_key(await rig.wired.live.first_frame(GOOD))
    # the stream ends after the grace period: the main process hangs its call up
    await _until(lambda: len(rig.wired.calls) == 0)
    await _until(lambda: len(rig.cameras[GOOD].byes) >= 1)
    with pytest.raises(DeviceRejectedError):
        await rig.wired.live.first_frame(REFUSING)  # the worker's failure, raised here


@pytest.mark.parametrize(
    ("channel", "code", "words"),
    [
        (REFUSING, 4502, "486"),
        (SILENT, 4504, "never arrived"),
        (OFFLINE, 4503, "offline"),
        (UNKNOWN, 4404, "not known"),
    ],
)
async def test_a_worker_view_gets_the_failures_statuses(
    rig: Rig, channel: str, code: int, words: str
) -> None:
    error, closed = await _refusal(rig.url(channel))
    assert closed == code, error
    assert words in error["detail"]
    await _until(lambda: len(rig.wired.calls) == 0)


async def test_a_device_bye_ends_the_view_with_its_reason(rig: Rig) -> None:
    error, closed = await _refusal(rig.url(ENDING))
    assert closed == 4502 and "BYE" in error["detail"], error
    await _until(lambda: len(rig.wired.calls) == 0)


async def test_a_refused_admission_and_a_revoked_token_end_views(rig: Rig) -> None:
    rig.refuse = "the view is masked for you: ask for a new play URL"
    # (the stream opens while the view is admitted: this camera is INVITEd in vain)
    error, closed = await _refusal(rig.url(SPARE))
    assert closed == 4403 and "masked" in error["detail"], error
    rig.refuse = None
    url = rig.url(GOOD)
    async with websockets.connect(url, max_size=None) as ws:
        while not isinstance(await asyncio.wait_for(ws.recv(), 10), bytes):
            pass
        # the worker reports the view's claims to be re-checked
        await _until(lambda: any(c["token_id"] == rig.token_id for c in rig.watched))
        # and the stream, with its RTP counters, for /metrics
        await _until(
            lambda: any(
                s.key.channel_id == GOOD and s.reception is not None and s.reception.packets
                for s in rig.workers.snapshots()
            )
        )
        rig.workers.revoke(1, rig.token_id, "stream token was revoked")
        with pytest.raises(websockets.exceptions.ConnectionClosed):
            while True:
                await asyncio.wait_for(ws.recv(), 10)
    assert ws.close_code == 4403 and "revoked" in (ws.close_reason or "")


async def test_a_worker_that_dies_is_replaced_and_its_calls_hung_up(rig: Rig) -> None:
    url = rig.url(GOOD)
    async with websockets.connect(url, max_size=None) as ws:
        while not isinstance(await asyncio.wait_for(ws.recv(), 10), bytes):
            pass
        assert len(rig.wired.calls) == 1
        worker = rig.workers._workers[1]
        os.kill(worker.process.pid, signal.SIGKILL)
        with pytest.raises(websockets.exceptions.ConnectionClosed):
            while True:
                await asyncio.wait_for(ws.recv(), 10)
    await _until(lambda: len(rig.wired.calls) == 0)  # BYE from the main process
    await _until(lambda: len(rig.cameras[GOOD].byes) >= 1)
    await _until(lambda: rig.workers._workers[1] is not worker and rig.workers.assign(GOOD))
    data, _texts = await _play(rig.url(SPARE), 10)  # GOOD sends nothing after its BYE
    assert data

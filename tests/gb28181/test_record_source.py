"""DeviceRecordSource against the simulator on loopback: RecordInfo with explicit time zones,
Playback with MANSRTSP pause/resume, the end of file (MediaStatus 121), and Download to MP4.

The platform is built from the real pieces (SipEndpoint, Registrar, DeviceManager, LiveService)
and the device is a real :class:`~sightline.sim.host.SimHost` camera whose recording history is
deterministic, so every answer can be checked against :func:`sightline.sim.history.recordings`.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import time
import zoneinfo
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import pytest

from sightline.config import Gb28181Settings, MediaSettings
from sightline.gb28181.live import LiveService
from sightline.gb28181.live_dialog import MediaCalls
from sightline.gb28181.playback import DevicePlayback
from sightline.gb28181.record_source import DeviceRecordSource
from sightline.gb28181.sdp import parse
from sightline.gb28181.ssrc import SsrcAllocator
from sightline.media.downloads import (
    DownloadJob,
    DownloadLimit,
    DownloadNotFound,
    Downloads,
    DownloadState,
)
from sightline.media.hub import StreamEndedError, StreamHub
from sightline.media.playback import RecordSourceName
from sightline.media.playback_sessions import (
    PlaybackSession,
    PlaybackSessions,
    SessionLimit,
    SessionNotFound,
    SourceNotEnabled,
)
from sightline.media.ports import RtpPortAllocator
from sightline.media.ps_frames import AccessUnit
from sightline.sim.config import DeviceGroup, SimConfig
from sightline.sim.history import recordings
from sightline.sim.host import SimHost
from sightline.sim.video import VideoSettings, read_time_ms
from sightline.sip.endpoint import IncomingRequest
from sightline.sip.message import Response
from tests.gb28181.device_peer import (
    DEFAULT_PASSWORD,
    PLATFORM,
    REALM,
    Platform,
    start_platform,
    until,
)

CAMERA = "34020000001320000001"
CHANNEL = "34020000001310000001"
SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
VIDEO = VideoSettings(width=320, height=180, fps=10, bitrate_kbps=200)


@dataclass
class Setup:
    platform: Platform
    live: LiveService
    source: DeviceRecordSource
    sim: SimHost


@pytest.fixture
async def setup(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Setup]:
    transport = str(getattr(request, "param", "udp"))
    settings = Gb28181Settings(
        query_timeout_s=1.0,
        catalog_timeout_s=2.0,
        catalog_subscribe_expires_s=0,
        alarm_subscribe_expires_s=0,
        store_flush_interval_s=0.05,
    )
    platform = await start_platform(tmp_path, settings)
    media = MediaSettings(
        rtp_ports="47100-47199",
        host="127.0.0.1",
        bind_host="127.0.0.1",
        invite_timeout_s=2.0,
        no_media_timeout_s=2.0,
        transport=transport,
    )
    calls = MediaCalls(platform.endpoint, platform.manager.addressing, timeout_s=2.0)
    calls.attach()

    async def locate(channel_id: str) -> str | None:
        return {CHANNEL: CAMERA}.get(channel_id)

    live = LiveService(
        calls=calls,
        devices=platform.manager,
        hub=StreamHub(),
        ports=RtpPortAllocator.from_range(media.rtp_port_range),
        ssrc=SsrcAllocator(PLATFORM),
        settings=media,
        media_host="127.0.0.1",
        locate=locate,
    )
    source = DeviceRecordSource(
        live=live,
        query=platform.manager.query_record_info,
        zone=SHANGHAI,
        download_speed=4,
        max_pause_s=0.8,
    )
    manager = platform.manager

    def route(incoming: IncomingRequest) -> Response:
        return source.handle_message(incoming) or manager.handle_message(incoming)

    platform.endpoint.on("MESSAGE", route)
    sim = SimHost(
        SimConfig(
            server_host=platform.peer.host,
            server_port=platform.peer.port,
            server_id=PLATFORM,
            domain=REALM,
            password=DEFAULT_PASSWORD,
            groups=(DeviceGroup(count=1),),
            local_host="127.0.0.1",
            video=VIDEO,
        )
    )
    await sim.start()
    assert await sim.wait_registered(1, 5.0)
    await until(lambda: manager.is_online(CAMERA), 5)
    yield Setup(platform, live, source, sim)
    await sim.stop()
    await calls.close()
    await platform.close()


def _past_hour(hours_back: int = 3) -> tuple[float, float]:
    """A whole recorded hour of the simulated channel, hours ago."""
    now = time.time()
    files = recordings(CHANNEL, now - 48 * 3600, now - hours_back * 3600, now)
    whole = next(f for f in reversed(files) if f.end - f.start == 3600)
    return float(whole.start), float(whole.end)


def _at(unix_s: float) -> datetime:
    return datetime.fromtimestamp(unix_s, UTC)


def _shown_s(unit: AccessUnit, decoder: av.VideoCodecContext) -> list[float]:
    frames = decoder.decode(av.Packet(unit.data))
    out = []
    for frame in frames:
        assert isinstance(frame, av.VideoFrame)
        value = read_time_ms(frame.to_ndarray(format="gray"))
        assert value is not None
        out.append(value / 1000)
    return out


async def test_search_converts_local_times_with_the_device_zone(setup: Setup) -> None:
    end = (int(time.time()) // 3600 - 2) * 3600
    start = end - 12 * 3600
    found = await setup.source.search(CHANNEL, _at(start), _at(end))
    expected = recordings(CHANNEL, start, end, time.time())
    assert [(s.start.timestamp(), s.end.timestamp()) for s in found] == [
        (f.start, f.end) for f in expected
    ]
    assert all(s.start.tzinfo is not None and s.channel_id == CHANNEL for s in found)
    # the same device read as if it ran on UTC: every instant is 8 hours off (and the query
    # asked for the wrong stretch), which is why the zone is a setting and not a guess
    wrong = DeviceRecordSource(
        live=setup.live, query=setup.platform.manager.query_record_info, zone=UTC
    )
    shifted = await wrong.search(CHANNEL, _at(start), _at(end))
    eight = 8 * 3600
    off = recordings(CHANNEL, start - eight, end - eight, time.time())
    assert [(s.start.timestamp(), s.end.timestamp()) for s in shifted] == [
        (f.start + eight, f.end + eight) for f in off
    ]


async def test_playback_invites_pauses_resumes_and_ends_at_the_end_of_file(setup: Setup) -> None:
    hour_start, _ = _past_hour()
    start = hour_start + 300
    playback = await setup.source.open_playback(CHANNEL, _at(start), _at(start + 4))
    assert isinstance(playback, DevicePlayback)
    offer = parse(playback.call.invite.body)
    assert offer.session_name == "Playback"
    assert offer.uri == f"{CHANNEL}:0"
    timing = offer.timing
    assert timing is not None and (timing.start, timing.stop) == (int(start), int(start + 4))
    assert offer.ssrc is not None and offer.ssrc.startswith("1")
    decoder = av.CodecContext.create("h264", "r")
    assert isinstance(decoder, av.VideoCodecContext)
    shown: list[tuple[float, float]] = []
    paused_at: float | None = None
    async with asyncio.timeout(20):
        async for unit in playback.frames():
            for moment in _shown_s(unit, decoder):
                shown.append((time.monotonic(), moment))
            if paused_at is None and len(shown) == 10:
                await playback.pause()
                paused_at = time.monotonic()
                await asyncio.sleep(0.5)
                await playback.resume()
    assert playback.ended_by_eof
    assert abs(shown[0][1] - start) < 0.5
    assert shown[-1][1] >= start + 3.5
    assert all(b[1] > a[1] for a, b in itertools.pairwise(shown))
    assert paused_at is not None
    gap = [b[0] - a[0] for a, b in itertools.pairwise(shown)]
    assert max(gap) >= 0.4  # the pause held the frames back
    await playback.close()
    await until(lambda: not setup.sim.calls.calls, 3)  # BYE reached the device


async def test_a_pause_longer_than_allowed_ends_the_session(setup: Setup) -> None:
    hour_start, _ = _past_hour()
    playback = await setup.source.open_playback(
        CHANNEL, _at(hour_start + 60), _at(hour_start + 120)
    )
    frames = playback.frames()
    await anext(frames)
    await playback.pause()
    with pytest.raises(StreamEndedError, match="paused"):
        async with asyncio.timeout(5):
            while True:
                await anext(frames)
    assert isinstance(frames, AsyncGenerator)
    await frames.aclose()
    await playback.close()
    with pytest.raises(ValueError, match="scale"):
        await playback.set_scale(3.0)
    with pytest.raises(ValueError, match="seek"):
        await playback.seek(600)


@pytest.mark.parametrize("setup", ["udp", "tcp-passive", "tcp-active"], indirect=True)
async def test_export_writes_an_mp4_and_reports_progress(setup: Setup, tmp_path: Path) -> None:
    hour_start, _ = _past_hour()
    start = hour_start + 1800
    progress: list[float] = []
    began = time.monotonic()
    path = await setup.source.export(
        CHANNEL, _at(start), _at(start + 8), tmp_path / "clip.mp4", progress.append
    )
    took = time.monotonic() - began
    assert took < 6  # a=downloadspeed:4: 8 s of recording in about 2
    assert progress[-1] == 1.0 and progress == sorted(progress) and len(progress) > 10
    data = await asyncio.to_thread(path.read_bytes)
    with av.open(io.BytesIO(data), "r", format="mp4") as container:
        assert container.duration is not None
        assert abs(container.duration / 1e6 - 8) <= 1.0
        frames = list(container.decode(video=0))
    first = read_time_ms(frames[0].to_ndarray(format="gray"))
    assert first is not None and abs(first / 1000 - start) < 0.5
    assert not await asyncio.to_thread(lambda: list(tmp_path.glob("*.partial")))


async def test_sessions_and_downloads_belong_to_their_owner(setup: Setup, tmp_path: Path) -> None:
    hour_start, _ = _past_hour()
    start = _at(hour_start + 600)
    sessions = PlaybackSessions(
        StreamHub(grace_s=0.3, first_frame_timeout_s=5), {RecordSourceName.DEVICE: setup.source}
    )
    with pytest.raises(SourceNotEnabled):
        await sessions.open(
            owner_id=1,
            username="ann",
            channel_id=CHANNEL,
            source=RecordSourceName.PLATFORM,
            start=start,
            end=start + timedelta(seconds=5),
        )
    session = await sessions.open(
        owner_id=1,
        username="ann",
        channel_id=CHANNEL,
        source=RecordSourceName.DEVICE,
        start=start,
        end=start + timedelta(seconds=30),
    )
    assert sessions.get(session.id, 1) is session
    with pytest.raises(SessionNotFound):
        sessions.get(session.id, 2)
    # nobody connects a player: the grace period ends the session and the call
    await until(lambda: session.ended, 5)
    await until(lambda: not setup.sim.calls.calls, 5)
    assert not session.eof
    with pytest.raises(SessionNotFound):
        sessions.get(session.id, 1)

    clock = [1000.0]
    folder = tmp_path / "downloads"
    await asyncio.to_thread(folder.mkdir)
    await asyncio.to_thread((folder / "left-over.mp4").write_bytes, b"old")
    downloads = Downloads(folder, retention_s=60, clock=lambda: clock[0])
    assert downloads.prepare() == 1
    job = downloads.start(
        setup.source,
        owner_id=1,
        username="ann",
        channel_id=CHANNEL,
        start=start,
        end=start + timedelta(seconds=3),
        purpose="a test",
    )
    await until(lambda: job.state is not DownloadState.RUNNING, 15)
    assert job.state is DownloadState.DONE and job.size_bytes and job.progress == 1.0
    assert downloads.get(job.id, 1) is job
    with pytest.raises(DownloadNotFound):
        downloads.get(job.id, 2)
    clock[0] += 61
    assert downloads.sweep() == 1
    assert not await asyncio.to_thread(job.path.exists)
    with pytest.raises(DownloadNotFound):
        downloads.get(job.id, 1)
    future = _at(time.time() + 7200)
    failed = downloads.start(
        setup.source,
        owner_id=1,
        username="ann",
        channel_id=CHANNEL,
        start=future,
        end=future + timedelta(seconds=3),
        purpose="nothing there",
    )
    await until(lambda: failed.state is not DownloadState.RUNNING, 10)
    assert failed.state is DownloadState.FAILED and failed.error
    assert "404" in failed.error
    await downloads.close()


async def test_one_user_holds_a_bounded_number_of_playback_sessions(setup: Setup) -> None:
    # each session is a device call and an RTP port: opening again and again must stop
    hour_start, _ = _past_hour()
    start = _at(hour_start + 900)
    sessions = PlaybackSessions(
        StreamHub(grace_s=0.3, first_frame_timeout_s=5),
        {RecordSourceName.DEVICE: setup.source},
        max_per_owner=1,
    )

    async def open_for(owner: int) -> PlaybackSession:
        return await sessions.open(
            owner_id=owner,
            username=f"user{owner}",
            channel_id=CHANNEL,
            source=RecordSourceName.DEVICE,
            start=start,
            end=start + timedelta(seconds=30),
        )

    first = await open_for(1)
    with pytest.raises(SessionLimit, match="at most 1"):
        await open_for(1)
    assert len(setup.sim.calls.calls) == 1  # refused before any INVITE
    other = await open_for(2)  # the limit is per user
    await sessions.close(first)
    again = await open_for(1)  # a closed session no longer counts
    await sessions.close_all()
    assert first.ended and other.ended and again.ended
    await until(lambda: not setup.sim.calls.calls, 5)


async def test_one_user_runs_a_bounded_number_of_exports(setup: Setup, tmp_path: Path) -> None:
    # Each export holds a device call and fills the disk: asking again and again must not
    # start one more each time.
    hour_start, _ = _past_hour()
    start = _at(hour_start + 1200)
    downloads = Downloads(tmp_path, retention_s=60, max_running_per_owner=1)

    def export(owner: int, seconds: float = 4) -> DownloadJob:
        return downloads.start(
            setup.source,
            owner_id=owner,
            username=f"user{owner}",
            channel_id=CHANNEL,
            start=start,
            end=start + timedelta(seconds=seconds),
            purpose="a test",
        )

    first = export(1)
    with pytest.raises(DownloadLimit, match="at most 1 at a time"):
        export(1)
    other = export(2)  # the limit is per user
    jobs = (first, other)
    await until(lambda: all(j.state is not DownloadState.RUNNING for j in jobs), 15)
    assert first.state is DownloadState.DONE and other.state is DownloadState.DONE
    again = export(1, 1)  # finished jobs do not count
    await until(lambda: again.state is not DownloadState.RUNNING, 15)
    assert again.state is DownloadState.DONE
    await downloads.close()


async def test_a_month_of_files_arrives_in_many_messages_and_is_reassembled(setup: Setup) -> None:
    end = (int(time.time()) // 3600 - 1) * 3600
    start = end - 29 * 86400
    began = time.monotonic()
    found = await setup.source.search(CHANNEL, _at(start), _at(end))
    expected = recordings(CHANNEL, start, end, time.time())
    assert len(expected) == 29 * 24  # 87 RecordInfo messages of 8 items
    assert [(s.start.timestamp(), s.end.timestamp()) for s in found] == [
        (f.start, f.end) for f in expected
    ]
    assert time.monotonic() - began < 2.0

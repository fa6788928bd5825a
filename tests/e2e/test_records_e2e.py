"""Record search and download end to end: REST → ``sightline demo`` → RecordInfo / Download
INVITE → the simulator's recording history → MP4 read back by PyAV.

The simulator's history is deterministic (``sightline.sim.history``), so the test knows which
segments the device must report, and every frame carries the recorded instant as a row of
black and white cells that the test decodes.
"""

from __future__ import annotations

import io
import itertools
import time
from datetime import UTC, datetime
from pathlib import Path

import av
import httpx
import pytest

from sightline.sim.history import recordings
from tests.e2e.api_client import ApiError
from tests.e2e.records_support import demo_node, frame_times, full_hour_file, iso

pytestmark = pytest.mark.e2e


def test_search_returns_the_simulated_segments_and_bad_requests_get_4xx(tmp_path: Path) -> None:
    with demo_node(tmp_path, "31200-31299") as node:
        api, channel = node.api, node.channel_id
        # a whole past day, ending on an hour: 24 hourly files, some cut short by gaps, sent
        # by the device in several RecordInfo messages of 8 items
        end = (int(time.time()) // 3600 - 1) * 3600
        start = end - 24 * 3600
        path = f"/api/v1/channels/{channel}/records"
        found = api.get(path, {"start": iso(start), "end": iso(end), "source": "device"})
        expected = recordings(channel, start, end, time.time())
        assert len(expected) == 24 and any(f.end - f.start < 3600 for f in expected)
        got = [
            (
                datetime.fromisoformat(i["start"]).timestamp(),
                datetime.fromisoformat(i["end"]).timestamp(),
            )
            for i in found["items"]
        ]
        assert got == [(f.start, f.end) for f in expected]
        first = found["items"][0]
        assert first["source"] == "device" and first["kind"] == "time"
        assert first["start"].endswith("Z") and first["size_bytes"] > 0
        # a range with an explicit +08:00 offset means the same instants
        local = datetime.fromtimestamp(start, UTC).astimezone().isoformat()
        again = api.get(path, {"start": local, "end": iso(end)})
        assert len(again["items"]) == 24

        # platform recording is off in this node: its source has nothing for the channel
        platform = api.get(path, {"start": iso(start), "end": iso(end), "source": "platform"})
        assert platform["items"] == []
        bad = [
            ({"start": "2026-11-24T08:00:00", "end": iso(end)}, 422),  # no zone
            ({"start": iso(end), "end": iso(start)}, 422),  # end before start
            ({"start": iso(end - 40 * 86400), "end": iso(end)}, 422),  # over 31 days
            ({"start": "yesterday", "end": iso(end)}, 422),
            ({"start": iso(start), "end": iso(end), "source": "tape"}, 422),
        ]
        for params, status in bad:
            with pytest.raises(ApiError) as error:
                api.get(path, params)
            assert error.value.status == status, (params, str(error.value))
        with pytest.raises(ApiError) as error:
            api.get(
                "/api/v1/channels/34020000001310009999/records",
                {"start": iso(start), "end": iso(end)},
            )
        assert error.value.status == 404
        anonymous = httpx.get(
            node.server.http_url + path, params={"start": iso(start), "end": iso(end)}
        )
        assert anonymous.status_code == 401


def test_download_writes_an_mp4_of_the_asked_stretch(tmp_path: Path) -> None:
    with demo_node(tmp_path, "31300-31399") as node:
        api, channel = node.api, node.channel_id
        recorded = full_hour_file(channel)
        start = recorded.start + 900
        length = 12
        path = f"/api/v1/channels/{channel}/downloads"
        body = {"start": iso(start), "end": iso(start + length), "source": "device"}
        for missing in ({**body}, {**body, "purpose": ""}, {**body, "purpose": "x" * 501}):
            with pytest.raises(ApiError) as error:
                api.post(path, missing)
            assert error.value.status == 422
        with pytest.raises(ApiError) as error:
            api.post(
                "/api/v1/channels/34020000001310009999/downloads", {**body, "purpose": "nobody"}
            )
        assert error.value.status == 404
        started = time.monotonic()
        job = api.post(path, {**body, "purpose": "incident 2026-114: check the gate"})
        assert job["state"] == "running"
        status, _ = api.wait_for(
            lambda a: a.get(f"/api/v1/downloads/{job['download_id']}"),
            lambda s: s["state"] != "running",
            timeout_s=30,
        )
        took = time.monotonic() - started
        assert status["state"] == "done", status
        assert status["progress"] == 1.0 and status["size_bytes"] > 10_000
        # a=downloadspeed:4: 12 recorded seconds arrive in about 3
        assert took < length, took
        with pytest.raises(ApiError) as error:
            api.get("/api/v1/downloads/not-a-known-download")
        assert error.value.status == 404
        headers = node.headers
        file = httpx.get(
            f"{node.server.http_url}/api/v1/downloads/{job['download_id']}/file",
            headers=headers,
            timeout=30,
        )
        assert file.status_code == 200, file.text
        assert file.headers["content-type"] == "video/mp4"
        assert file.content[4:8] == b"ftyp" and b"moof" not in file.content  # not fragmented
        times = frame_times(file.content)
        duration = check_mp4_duration(file.content)
        assert abs(duration - length) <= 1.0, duration
        assert abs(times[0] - start) <= 1.0, (times[0], start)
        assert abs(times[-1] - (start + length)) <= 1.0, (times[-1], start + length)
        assert all(b > a for a, b in itertools.pairwise(times))
        anonymous = httpx.get(f"{node.server.http_url}/api/v1/downloads/{job['download_id']}/file")
        assert anonymous.status_code == 401


def check_mp4_duration(data: bytes) -> float:
    """The file's duration as FFmpeg reports it."""
    with av.open(io.BytesIO(data), mode="r", format="mp4") as container:
        assert container.duration is not None
        return container.duration / 1_000_000

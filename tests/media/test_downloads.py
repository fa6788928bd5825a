"""Download jobs: what needs no record source (the rest is in gb28181/test_record_source)."""

from __future__ import annotations

import zoneinfo
from datetime import datetime
from pathlib import Path

from sightline.media.downloads import DownloadJob
from sightline.media.playback import RecordSourceName

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


def test_the_offered_file_name_is_in_utc_whatever_zone_the_range_was_asked_in() -> None:
    # 08:00 in Shanghai is 00:00 UTC; a name ending in Z must say 00:00, not 08:00.
    job = DownloadJob(
        id="abcdefgh",
        owner_id=1,
        username="ann",
        channel_id="34020000001310000001",
        source=RecordSourceName.DEVICE,
        start=datetime(2026, 11, 24, 8, 0, 0, tzinfo=SHANGHAI),
        end=datetime(2026, 11, 24, 9, 30, 15, tzinfo=SHANGHAI),
        purpose="incident 7",
        path=Path("/nonexistent/abcdefgh.mp4"),
    )
    assert job.filename == "34020000001310000001_20261124T000000Z_20261124T013015Z.mp4"

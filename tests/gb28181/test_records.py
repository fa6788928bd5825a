"""Device-local times ↔ UTC, and RecordInfo items → segments (``sightline.gb28181.records``)."""

from __future__ import annotations

import time
import zoneinfo
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sightline.gb28181.manscdp import RecordItem
from sightline.gb28181.records import (
    RecordTimeError,
    device_zone,
    from_device_local,
    segments_from_items,
    to_device_local,
)
from sightline.media.playback import RecordSourceName

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
CHANNEL = "34020000001310000001"


def test_shanghai_is_eight_hours_ahead_and_utc_is_not() -> None:
    moment = datetime(2026, 11, 24, 0, 30, tzinfo=UTC)
    assert to_device_local(moment, SHANGHAI) == datetime(2026, 11, 24, 8, 30)
    assert to_device_local(moment, UTC) == datetime(2026, 11, 24, 0, 30)
    assert from_device_local(datetime(2026, 11, 24, 8, 30), SHANGHAI) == moment
    assert from_device_local(datetime(2026, 11, 24, 0, 30), UTC) == moment
    # across midnight and a month end, both ways
    late = datetime(2026, 11, 30, 20, 0, tzinfo=UTC)
    assert to_device_local(late, SHANGHAI) == datetime(2026, 12, 1, 4, 0)


def test_an_aware_device_time_keeps_its_own_offset() -> None:
    stamped = datetime(2026, 11, 24, 8, 0, tzinfo=timezone(timedelta(hours=8)))
    assert from_device_local(stamped, UTC) == datetime(2026, 11, 24, 0, 0, tzinfo=UTC)


def test_naive_times_and_unknown_zones_are_refused() -> None:
    with pytest.raises(RecordTimeError):
        to_device_local(datetime(2026, 11, 24, 8, 0), SHANGHAI)
    with pytest.raises(RecordTimeError):
        device_zone("Mars/Olympus_Mons")
    assert device_zone("Asia/Shanghai") == SHANGHAI
    local = device_zone("")
    assert datetime(2026, 1, 1, tzinfo=local).utcoffset() is not None


@pytest.fixture
def berlin_platform(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The platform's own zone is Europe/Berlin (with daylight saving) for one test."""
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("berlin_platform")
def test_the_platform_zone_keeps_its_daylight_saving_rules() -> None:
    # The default zone is the platform's: a summer recording is UTC+2 there even when the
    # node was started in winter (UTC+1), and the other way round.
    zone = device_zone("")
    summer = from_device_local(datetime(2026, 7, 1, 12, 0), zone)
    winter = from_device_local(datetime(2026, 1, 15, 12, 0), zone)
    assert summer == datetime(2026, 7, 1, 10, 0, tzinfo=UTC)
    assert winter == datetime(2026, 1, 15, 11, 0, tzinfo=UTC)


@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1)),
    st.sampled_from([SHANGHAI, UTC, timezone(timedelta(hours=-5))]),
)
def test_round_trip_in_zones_without_daylight_saving(naive: datetime, zone: object) -> None:
    assert isinstance(zone, zoneinfo.ZoneInfo | timezone)
    moment = naive.replace(tzinfo=UTC)
    assert from_device_local(to_device_local(moment, zone), zone) == moment


def _item(start: datetime, end: datetime, kind: str | None = "time") -> RecordItem:
    return RecordItem(
        device_id=CHANNEL, start_time=start, end_time=end, record_type=kind, file_size=1000
    )


def test_items_become_sorted_unique_overlapping_utc_segments() -> None:
    day = datetime(2026, 11, 24, tzinfo=UTC)
    items = [
        _item(datetime(2026, 11, 24, 10), datetime(2026, 11, 24, 11), "alarm"),
        _item(datetime(2026, 11, 24, 9), datetime(2026, 11, 24, 10)),
        _item(datetime(2026, 11, 24, 9), datetime(2026, 11, 24, 10)),  # repeated by the device
        _item(datetime(2026, 11, 24, 5), datetime(2026, 11, 24, 6)),  # before the range
        _item(datetime(2026, 11, 24, 12), datetime(2026, 11, 24, 12)),  # empty
        RecordItem(device_id=CHANNEL, start_time=datetime(2026, 11, 24, 11)),  # no end
        _item(datetime(2026, 11, 24, 11), datetime(2026, 11, 24, 12), "Motion"),  # vendor kind
    ]
    start, end = day + timedelta(hours=1), day + timedelta(hours=4)  # 09:00-12:00 in Shanghai
    segments = segments_from_items(CHANNEL, items, SHANGHAI, start, end)
    assert [(s.start, s.end, s.kind) for s in segments] == [
        (day + timedelta(hours=1), day + timedelta(hours=2), "time"),
        (day + timedelta(hours=2), day + timedelta(hours=3), "alarm"),
        (day + timedelta(hours=3), day + timedelta(hours=4), "time"),
    ]
    assert all(s.source is RecordSourceName.DEVICE and s.size_bytes == 1000 for s in segments)

"""Recording plans: weekly tables in the platform's zone, alarm windows, JSON, bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sightline.media.recording.errors import PlanError
from sightline.media.recording.plans import PlanMode, RecordingPlan, TimeRange, WeeklySchedule

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
# Wednesday 2026-11-25 00:30 UTC = 08:30 in Shanghai
WED_0030_UTC = datetime(2026, 11, 25, 0, 30, tzinfo=UTC)


def _scheduled(table: dict[str, list[str]]) -> RecordingPlan:
    return RecordingPlan(PlanMode.SCHEDULED, WeeklySchedule.parse(table))


def test_a_weekly_table_is_read_in_the_platform_zone() -> None:
    plan = _scheduled({"wed": ["08:00-09:00"]})
    assert plan.records_at(WED_0030_UTC, SHANGHAI, None)
    assert not plan.records_at(WED_0030_UTC, UTC, None)  # 00:30 in UTC
    assert not plan.records_at(WED_0030_UTC + timedelta(minutes=30), SHANGHAI, None)  # 09:00 excl.
    assert plan.records_at(WED_0030_UTC + timedelta(minutes=29, seconds=59), SHANGHAI, None)


def test_ranges_belong_to_their_local_weekday() -> None:
    plan = _scheduled({"tue": ["22:00-24:00"], "wed": ["00:00-01:00"]})
    tue_23_local = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # Tue 23:00 in Shanghai
    assert plan.records_at(tue_23_local, SHANGHAI, None)
    assert plan.records_at(tue_23_local + timedelta(hours=1, minutes=30), SHANGHAI, None)
    assert not plan.records_at(tue_23_local + timedelta(hours=2), SHANGHAI, None)
    assert not plan.records_at(tue_23_local, UTC, None)  # Tue 15:00 in UTC


def test_daylight_saving_time_follows_the_wall_clock() -> None:
    plan = _scheduled({"sun": ["02:00-04:00"], "mon": ["08:00-09:00"]})
    # Berlin, 2026-03-30 (Monday): 08:30 CEST is 06:30 UTC; a week earlier (CET) it is 07:30 UTC
    assert plan.records_at(datetime(2026, 3, 30, 6, 30, tzinfo=UTC), BERLIN, None)
    assert plan.records_at(datetime(2026, 3, 23, 7, 30, tzinfo=UTC), BERLIN, None)
    assert not plan.records_at(datetime(2026, 3, 30, 7, 30, tzinfo=UTC), BERLIN, None)


def test_continuous_off_and_alarm_windows() -> None:
    now = WED_0030_UTC
    assert RecordingPlan(PlanMode.CONTINUOUS).records_at(now, SHANGHAI, None)
    assert not RecordingPlan().records_at(now, SHANGHAI, now + timedelta(hours=1))
    alarm = RecordingPlan(PlanMode.ALARM, pre_s=5, post_s=30)
    assert alarm.needs_stream_when_idle
    assert not RecordingPlan(PlanMode.ALARM, post_s=30).needs_stream_when_idle
    assert not alarm.records_at(now, SHANGHAI, None)
    assert alarm.records_at(now, SHANGHAI, now + timedelta(seconds=30))
    assert not alarm.records_at(now + timedelta(seconds=30), SHANGHAI, now + timedelta(seconds=30))


def test_json_round_trip() -> None:
    plan = RecordingPlan(
        PlanMode.SCHEDULED,
        WeeklySchedule.parse({"mon": ["18:00-24:00", "00:00-06:30"], "sat": ["10:15-11:45"]}),
        pre_s=2,
        post_s=3,
        retention_days=7,
    )
    data = plan.to_json()
    assert data["schedule"]["mon"] == ["00:00-06:30", "18:00-24:00"]
    assert RecordingPlan.from_json(data, 7) == plan


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"monday": ["08:00-09:00"]}, "unknown weekday"),
        ({"mon": ["09:00-08:00"]}, "crosses midnight"),
        ({"mon": ["08:00"]}, "must look like"),
        ({"mon": ["25:00-26:00"]}, "between 00:00 and 24:00"),
        ({"mon": ["8:60-9:00"]}, "between 00:00 and 24:00"),
        ({"mon": ["08:0a-09:00"]}, "HH:MM"),
        ({"mon": ["٠٨:٠٠-09:00"]}, "HH:MM"),
    ],
)
def test_bad_tables_are_refused_with_a_reason(table: dict[str, list[str]], message: str) -> None:
    with pytest.raises(PlanError, match=message):
        WeeklySchedule.parse(table)


def test_bad_plans_are_refused() -> None:
    with pytest.raises(PlanError):
        RecordingPlan(PlanMode.ALARM, pre_s=-1)
    with pytest.raises(PlanError):
        RecordingPlan(retention_days=0)
    with pytest.raises(PlanError):
        RecordingPlan.from_json({"mode": "sometimes"})
    with pytest.raises(PlanError):
        RecordingPlan.from_json({"mode": "scheduled", "schedule": ["mon"]})


@given(st.text(max_size=20))
def test_time_range_parsing_raises_only_plan_error(text: str) -> None:
    try:
        parsed = TimeRange.parse(text)
    except PlanError:
        return
    assert TimeRange.parse(str(parsed)) == parsed


@given(st.integers(0, 1439), st.integers(1, 1440))
def test_time_ranges_round_trip(start: int, end: int) -> None:
    if start >= end:
        return
    assert TimeRange.parse(str(TimeRange(start, end))) == TimeRange(start, end)

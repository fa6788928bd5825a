"""The simulated PTZ head, integrated over fake time."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sightline.gb28181.ptz import PtzCommand
from sightline.sim.ptz_state import TILT_MAX, TILT_MIN, ZOOM_MAX, PtzState


def test_pan_right_integrates_speed_over_time_and_stops() -> None:
    head = PtzState(now=100.0)
    head.apply(PtzCommand.move(pan=1, tilt=0, speed=255), 100.0)
    assert head.position(100.5).pan == pytest.approx(60.0)  # 120 deg/s at full speed
    assert head.position(100.5).moving
    head.apply(PtzCommand.stop(), 101.0)
    stopped = head.position(105.0)
    assert stopped.pan == pytest.approx(120.0)
    assert not stopped.moving


def test_pan_wraps_and_tilt_and_zoom_clamp() -> None:
    head = PtzState(now=0.0, pan=350.0)
    head.apply(PtzCommand.move(pan=1, tilt=1, speed=0), 0.0)  # 1 deg/s
    later = head.position(20.0)
    assert later.pan == pytest.approx(10.0)
    assert later.tilt == pytest.approx(20.0)
    assert head.position(1000.0).tilt == TILT_MAX
    head.apply(PtzCommand.move(pan=-1, tilt=-1, speed=255), 1000.0)
    assert head.position(2000.0).tilt == TILT_MIN
    head.apply(PtzCommand.zoom(1, 15), 2000.0)
    assert head.position(2000.5).zoom == pytest.approx(1.0 + 8.0 * 0.5)
    assert head.position(2100.0).zoom == ZOOM_MAX


def test_presets_set_call_delete() -> None:
    head = PtzState(now=0.0)
    head.apply(PtzCommand.move(pan=1, tilt=0, speed=255), 0.0)
    head.apply(PtzCommand.stop(), 0.25)
    assert head.apply(PtzCommand.preset("set", 3), 1.0)
    head.apply(PtzCommand.move(pan=-1, tilt=-1, speed=128), 1.0)
    assert head.position(3.0).pan != pytest.approx(30.0)
    assert head.apply(PtzCommand.preset("call", 3), 3.0)
    back = head.position(4.0)
    assert back.pan == pytest.approx(30.0)
    assert (back.tilt, back.moving) == (0.0, False)
    assert head.apply(PtzCommand.preset("delete", 3), 4.0)
    assert not head.apply(PtzCommand.preset("call", 3), 5.0)
    assert head.presets == {}


def test_commands_the_head_does_not_simulate_are_reported() -> None:
    head = PtzState(now=0.0)
    assert not head.apply(PtzCommand.cruise_start(1), 0.0)
    assert not head.apply(PtzCommand.focus(1), 0.0)


@given(
    st.lists(
        st.tuples(
            st.sampled_from([-1, 0, 1]),
            st.sampled_from([-1, 0, 1]),
            st.integers(0, 255),
            st.floats(0, 100),
        ),
        max_size=20,
    )
)
def test_position_always_stays_in_range(moves: list[tuple[int, int, int, float]]) -> None:
    head = PtzState(now=0.0)
    now = 0.0
    for pan, tilt, speed, dt in moves:
        head.apply(PtzCommand.move(pan, tilt, speed, zoom=pan, zoom_speed=speed % 16), now)
        now += dt
        here = head.position(now)
        assert 0.0 <= here.pan < 360.0
        assert TILT_MIN <= here.tilt <= TILT_MAX
        assert 1.0 <= here.zoom <= ZOOM_MAX

"""The fuzz runner's time check: a slow input is a finding, a one-off stall is not."""

from __future__ import annotations

import time

import pytest

from tests.fuzz.runner import within_time


def test_a_one_off_stall_is_not_a_finding_but_slowness_every_time_is() -> None:
    runs: list[int] = []

    def stalls_once() -> None:
        runs.append(1)
        if len(runs) == 1:
            time.sleep(0.06)

    within_time(0.05, stalls_once, "a stall")
    assert len(runs) == 2  # slow once: run again, fast: fine
    with pytest.raises(AssertionError, match=r"slow took 0\.\d\d s, and 0\.\d\d s again"):
        within_time(0.01, lambda: time.sleep(0.03), "slow")
    within_time(1.0, lambda: None, "fast")  # fast the first time: run once


def test_what_the_work_raises_is_not_swallowed() -> None:
    def broken() -> None:
        raise ValueError("parser bug")

    with pytest.raises(ValueError, match="parser bug"):
        within_time(1.0, broken, "broken")

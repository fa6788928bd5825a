"""Fixtures shared by the whole test suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import settings

from tests.pg import postgres_server, unavailable_reason

# No per-example deadline for property tests that do not set one: hypothesis's default
# (200 ms) measures the machine as much as the code, and CI shares 2 cores (examples of up to
# 123 ms were seen on a loaded machine, near enough to fail as "unreliable timings").
settings.register_profile("sightline", deadline=None)
settings.load_profile("sightline")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a temporary PostgreSQL database for this test session (skips if unavailable)."""
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    with postgres_server() as url:
        yield url

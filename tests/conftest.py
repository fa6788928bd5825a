"""Fixtures shared by the whole test suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.pg import postgres_server, unavailable_reason


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a temporary PostgreSQL database for this test session (skips if unavailable)."""
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    with postgres_server() as url:
        yield url

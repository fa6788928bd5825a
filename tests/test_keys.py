"""Generated secrets are made once, kept private, and reused."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from sightline.errors import ConfigError
from sightline.keys import load_or_create_secrets


def test_created_once_then_reused(tmp_path: Path) -> None:
    first = load_or_create_secrets(tmp_path / "data")
    assert first.created
    assert len(first.device_password) == 12
    assert first.device_password != first.admin_password
    assert len(first.server_key) == 32
    mode = stat.S_IMODE((tmp_path / "data" / "secrets.json").stat().st_mode)
    assert mode == 0o600
    second = load_or_create_secrets(tmp_path / "data")
    assert not second.created
    assert (second.device_password, second.admin_password, second.server_key) == (
        first.device_password,
        first.admin_password,
        first.server_key,
    )


def test_damaged_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "secrets.json").write_text("{not json")
    with pytest.raises(ConfigError, match="damaged"):
        load_or_create_secrets(tmp_path)

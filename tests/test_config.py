"""Settings: defaults, YAML, environment overrides, clear errors, and the example file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sightline.config import Settings, load_settings
from sightline.config_example import render_example
from sightline.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("SIGHTLINE_"):
            monkeypatch.delenv(key)


def test_defaults_match_the_brief() -> None:
    s = load_settings()
    assert s.data_dir == Path("data")
    assert s.database.url is None
    assert s.database_url.startswith("sqlite+aiosqlite:///")
    assert s.database_url.endswith("/data/sightline.db")
    assert (s.sip.host, s.sip.port) == ("0.0.0.0", 5060)
    assert s.sip.id == "34020000002000000001"
    assert s.sip.domain == "3402000000"
    assert s.sip.device_password is None
    assert (s.http.host, s.http.port) == ("127.0.0.1", 8080)
    assert s.media.rtp_port_range == (30000, 30999)
    assert s.admin.password is None


def test_yaml_file_and_env_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("sip:\n  port: 15060\n  domain: '4401000000'\nhttp:\n  port: 9000\n")
    monkeypatch.setenv("SIGHTLINE_HTTP__PORT", "9100")
    monkeypatch.setenv("SIGHTLINE_DATA_DIR", str(tmp_path / "d"))
    s = load_settings(cfg)
    assert s.sip.port == 15060
    assert s.sip.domain == "4401000000"
    assert s.http.port == 9100  # environment beats the file
    assert s.data_dir == tmp_path / "d"


@pytest.mark.parametrize(
    ("env", "value", "needle"),
    [
        ("SIGHTLINE_SIP__PORT", "70000", "sip.port (or SIGHTLINE_SIP__PORT)"),
        ("SIGHTLINE_SIP__ID", "123", "exactly 20 digits"),
        ("SIGHTLINE_SIP__HOST", "not-an-ip", "sip.host must be an IP address"),
        ("SIGHTLINE_MEDIA__RTP_PORTS", "3000", "media.rtp_ports must look like"),
        ("SIGHTLINE_DATABASE__URL", "mysql://x", "database.url must start with"),
        ("SIGHTLINE_LOG__LEVEL", "LOUD", "log.level"),
    ],
)
def test_bad_values_name_key_and_variable(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, needle: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert needle in str(info.value)


def test_unknown_key_in_yaml_is_an_error(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("sip:\n  prot: 15060\n")
    with pytest.raises(ConfigError, match=r"sip\.prot"):
        load_settings(cfg)


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.yaml")
    broken = tmp_path / "b.yaml"
    broken.write_text("sip: [unclosed\n")
    with pytest.raises(ConfigError, match="cannot read configuration"):
        load_settings(broken)


def test_example_file_is_generated_from_the_model() -> None:
    shipped = (REPO / "config.example.yaml").read_text(encoding="utf-8")
    assert shipped == render_example(), "run: sightline config example > config.example.yaml"


def test_example_file_holds_exactly_the_defaults(tmp_path: Path) -> None:
    loaded = load_settings(REPO / "config.example.yaml")
    assert loaded.model_dump() == Settings().model_dump()
    # and every field of every section appears in it
    data = yaml.safe_load((REPO / "config.example.yaml").read_text(encoding="utf-8"))
    for name, info in Settings.model_fields.items():
        assert name in data
        sub = info.annotation
        if isinstance(sub, type) and hasattr(sub, "model_fields"):
            assert set(data[name]) == set(sub.model_fields)

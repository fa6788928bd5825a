"""The HTTP surface that exists from the first issue: health and metrics."""

from __future__ import annotations

from fastapi.testclient import TestClient

from sightline.api.app import ApiContext, create_app
from sightline.api.metrics import build_registry
from sightline.sip.stats import SipStats


def _client(stats: SipStats) -> TestClient:
    return TestClient(create_app(ApiContext(registry=build_registry(stats))))


def test_healthz_needs_no_login() -> None:
    resp = _client(SipStats()).get("/healthz")
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok"}


def test_metrics_show_sip_counters() -> None:
    stats = SipStats()
    stats.count_request("REGISTER")
    stats.count_request("REGISTER")
    stats.count_request("FOO")
    stats.count_response(401, sent=True)
    stats.parse_errors["UDP"] += 3
    stats.auth_failures = 4
    stats.bans = 1
    text = _client(stats).get("/metrics").text
    assert 'sightline_sip_requests_total{method="REGISTER"} 2.0' in text
    assert 'sightline_sip_requests_total{method="OTHER"} 1.0' in text
    assert 'sightline_sip_responses_sent_total{class="4xx"} 1.0' in text
    assert 'sightline_sip_parse_errors_total{transport="UDP"} 3.0' in text
    assert "sightline_sip_auth_failures_total 4.0" in text
    assert "sightline_sip_bans_total 1.0" in text


def test_openapi_is_published_under_api_v1() -> None:
    resp = _client(SipStats()).get("/api/v1/openapi.json")
    assert resp.status_code == 200
    assert "/healthz" in resp.json()["paths"]


def test_metrics_show_per_stream_figures() -> None:
    from sightline.media.hub import StreamKey, StreamSnapshot, StreamState

    snap = StreamSnapshot(
        key=StreamKey("34020000001310000001"),
        state=next(iter(StreamState)),
        viewers=2,
        open_s=3.0,
        time_to_first_frame_s=0.4,
        frames=75,
        keyframes=2,
        bytes=250_000,
        bitrate_bps=2_000_000.0,
        dropped_frames=1,
        gop_frames=25,
        since_last_frame_s=0.04,
    )
    registry = build_registry(SipStats(), lambda: [snap])
    text = TestClient(create_app(ApiContext(registry=registry))).get("/metrics").text
    labels = 'channel="34020000001310000001",kind="live"'
    assert f"sightline_stream_viewers{{{labels}}} 2.0" in text
    assert f"sightline_stream_bitrate_bps{{{labels}}} 2e+06" in text
    assert f"sightline_stream_frames_total{{{labels}}} 75.0" in text
    assert f"sightline_stream_dropped_frames_total{{{labels}}} 1.0" in text
    assert f"sightline_stream_time_to_first_frame_seconds{{{labels}}} 0.4" in text

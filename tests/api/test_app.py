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

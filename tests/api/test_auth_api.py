"""Login, bearer tokens and logout through HTTP."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.api.conftest import ADMIN_PASSWORD, Api

PROTECTED = [
    ("GET", "/api/v1/auth/me"),
    ("POST", "/api/v1/auth/logout"),
    ("GET", "/api/v1/devices"),
    ("GET", "/api/v1/devices/34020000001180000001"),
    ("POST", "/api/v1/devices/34020000001180000001/catalog/refresh"),
    ("GET", "/api/v1/channels"),
    ("GET", "/api/v1/channels/34020000001320000001"),
    ("POST", "/api/v1/channels/34020000001320000001/ptz"),
    ("GET", "/api/v1/regions"),
    ("GET", "/api/v1/groups"),
]


def test_login_returns_a_bearer_token(api: Api) -> None:
    resp = api.client.post(
        "/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
    )
    assert resp.status_code == 200
    body = resp.json()
    assert body["token_type"] == "bearer"
    assert datetime.fromisoformat(body["expires_at"]).timestamp() == api.clock.now + 3600
    me = api.client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.status_code == 200
    assert me.json()["username"] == "admin" and me.json()["is_admin"] is True


def test_wrong_password_and_unknown_user_get_the_same_401(api: Api) -> None:
    answers = [
        api.client.post("/api/v1/auth/login", json={"username": user, "password": "nope"})
        for user in ("admin", "nobody")
    ]
    assert [a.status_code for a in answers] == [401, 401]
    assert answers[0].json() == answers[1].json() == {"detail": "invalid username or password"}
    assert all(a.headers["WWW-Authenticate"] == "Bearer" for a in answers)


def test_lockout_answers_429_with_retry_after(api: Api) -> None:
    for _ in range(5):
        resp = api.client.post("/api/v1/auth/login", json={"username": "admin", "password": "x"})
        assert resp.status_code == 401
    resp = api.client.post(
        "/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
    )
    assert resp.status_code == 429
    assert resp.headers["Retry-After"] == "901"
    assert "too many failed logins" in resp.json()["detail"]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_every_route_needs_a_token(api: Api, method: str, path: str) -> None:
    resp = api.client.request(method, path)
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"] == "Bearer"
    assert resp.json() == {"detail": "not logged in: send Authorization: Bearer <token>"}


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_every_route_refuses_an_expired_token(api: Api, method: str, path: str) -> None:
    headers = api.headers()
    api.clock.now += 3600
    resp = api.client.request(method, path, headers=headers)
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert resp.json() == {"detail": "token has expired"}


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer v1.eyJ1IjoxLCJuIjoiYWRtaW4iLCJpIjoxLCJlIjo5OTk5OTk5OTk5LCJqIjoieCJ9.AAAA",
        "Bearer nonsense",
        "Bearer " + "A" * 5000,
        "Basic YWRtaW46YWRtaW4=",
        "Bearer",
        "",
    ],
)
def test_forged_or_malformed_credentials_are_401(api: Api, authorization: str) -> None:
    resp = api.client.get("/api/v1/devices", headers={"Authorization": authorization})
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


def test_logout_revokes_the_token(api: Api) -> None:
    headers = api.headers()
    other = api.headers()
    assert api.client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    resp = api.client.get("/api/v1/devices", headers=headers)
    assert resp.status_code == 401
    assert resp.json() == {"detail": "token was revoked"}
    assert api.client.get("/api/v1/devices", headers=other).status_code == 200


def test_health_and_openapi_need_no_login(api: Api) -> None:
    assert api.client.get("/healthz").json() == {"status": "ok"}
    spec = api.client.get("/api/v1/openapi.json").json()
    assert set(spec["paths"]) >= {
        "/api/v1/auth/login",
        "/api/v1/auth/logout",
        "/api/v1/devices",
        "/api/v1/devices/{device_id}",
        "/api/v1/devices/{device_id}/catalog/refresh",
        "/api/v1/channels",
        "/api/v1/channels/{channel_id}",
        "/api/v1/channels/{channel_id}/ptz",
        "/api/v1/regions",
        "/api/v1/groups",
    }
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert "security" not in spec["paths"]["/api/v1/auth/login"]["post"]
    assert spec["paths"]["/api/v1/devices"]["get"]["security"] == [{"HTTPBearer": []}]

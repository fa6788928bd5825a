"""Hostile HTTP input: oversized and mislabelled bodies, broken JSON, wild paging, odd IDs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sightline.api.app import MAX_BODY_BYTES
from tests.api.conftest import Api
from tests.directory.samples import CAM_GATE

LOGIN = "/api/v1/auth/login"
PTZ = f"/api/v1/channels/{CAM_GATE}/ptz"


def test_an_oversized_body_is_413(api: Api) -> None:
    body = '{"username": "admin", "password": "' + "x" * MAX_BODY_BYTES + '"}'
    resp = api.client.post(LOGIN, content=body, headers={"Content-Type": "application/json"})
    assert resp.status_code == 413
    assert resp.json() == {"detail": f"request body is larger than {MAX_BODY_BYTES} bytes"}


def test_an_oversized_chunked_body_is_413(api: Api) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"action": "left", "pad": "'
        for _ in range(100):
            yield b"x" * 1024
        yield b'"}'

    headers = {"Content-Type": "application/json", **api.headers()}
    resp = api.client.post(PTZ, content=chunks(), headers=headers)
    assert "content-length" not in resp.request.headers
    assert resp.status_code == 413
    assert resp.json() == {"detail": f"request body is larger than {MAX_BODY_BYTES} bytes"}
    assert api.devices.calls == []


def test_a_body_just_under_the_limit_is_parsed(api: Api) -> None:
    body = '{"username": "admin", "password": "' + "x" * (MAX_BODY_BYTES - 100) + '"}'
    resp = api.client.post(LOGIN, content=body, headers={"Content-Type": "application/json"})
    assert resp.status_code == 422  # too long a password, but read and validated


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_bodies_must_be_declared_json(api: Api, content_type: str | None) -> None:
    body = '{"username": "admin", "password": "admin-secret"}'
    headers = {} if content_type is None else {"Content-Type": content_type}
    resp = api.client.post(LOGIN, content=body, headers=headers)
    assert resp.status_code == 415
    ptz_headers = {**headers, **api.headers()}
    assert (
        api.client.post(PTZ, content='{"action": "stop"}', headers=ptz_headers).status_code == 415
    )
    assert api.devices.calls == []


@pytest.mark.parametrize("body", ["{", '{"username": "admin",}', "\xff\xfe", "null", "[1]"])
def test_broken_json_is_422_with_a_sentence(api: Api, body: str) -> None:
    resp = api.client.post(
        LOGIN, content=body.encode("latin-1"), headers={"Content-Type": "application/json"}
    )
    assert resp.status_code == 422
    detail = resp.json()["detail"]
    assert isinstance(detail, str) and detail


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=1001",
        "limit=" + "9" * 40,
        "offset=-1",
        "offset=" + "9" * 40,
        "limit=abc",
        "online=maybe",
    ],
)
def test_paging_out_of_range_is_422(api: Api, query: str) -> None:
    headers = api.headers()
    for path in ("/api/v1/devices", "/api/v1/channels"):
        resp = api.client.get(f"{path}?{query}", headers=headers)
        assert resp.status_code == 422, path
        assert query.split("=", maxsplit=1)[0] in resp.json()["detail"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/devices/..%2F..%2Fetc%2Fpasswd",
        "/api/v1/devices/3402000000132000000%EF%BC%91",  # full-width final digit
        "/api/v1/devices/340200000013200000011",
        "/api/v1/devices/3402000000132000000",
        "/api/v1/devices/34020000001320000001%00",
        "/api/v1/channels/%20%2034020000001320000001",
        "/api/v1/channels/34020000001320000001;drop",
    ],
)
def test_ids_are_validated(api: Api, path: str) -> None:
    resp = api.client.get(path, headers=api.headers())
    assert resp.status_code in (404, 422)
    assert resp.json()["detail"]


@pytest.mark.parametrize(
    "query",
    [
        "region=340002",  # 00 as a middle level
        "region=3",
        "region=340202011",
        "region=34%25",
        "region=34_2",
        "group=1%20OR%201=1",
        "group=34020000002150000001/..",
        "device=%25",
    ],
)
def test_filters_are_validated(api: Api, query: str) -> None:
    resp = api.client.get(f"/api/v1/channels?{query}", headers=api.headers())
    assert resp.status_code == 422
    assert isinstance(resp.json()["detail"], str)


@pytest.mark.parametrize(
    "body",
    [
        {"username": "a" * 65, "password": "x"},
        {"username": "", "password": "x"},
        {"username": "admin", "password": ""},
        {"username": "admin", "password": "x" * 1025},
        {"username": "admin"},
        {"username": 1, "password": 2},
        {"username": "admin", "password": "admin-secret", "admin": True},
    ],
)
def test_login_fields_are_validated(api: Api, body: dict[str, object]) -> None:
    assert api.client.post(LOGIN, json=body).status_code == 422

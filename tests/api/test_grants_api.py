"""``/api/v1/grants``: created by the owner's admins, effective at once, revocable."""

from __future__ import annotations

from typing import Any

from tests.access.apps import POLICE_CAM, AccessApi, access_api, window

__all__ = ["access_api"]

CHANNEL = f"/api/v1/channels/{POLICE_CAM}"


def _grant(api: AccessApi, who: str, **fields: Any) -> Any:
    body = {
        "grantee_department_id": api.transport,
        "scope": {"kind": "channel", "id": POLICE_CAM},
        "actions": ["live"],
        **window(api),
        **fields,
    }
    return api.client.post("/api/v1/grants", json=body, headers=api.login(who))


def test_a_grant_opens_a_channel_and_revoking_closes_it(access_api: AccessApi) -> None:
    api = access_api
    assert api.client.get(CHANNEL, headers=api.login("transport_viewer")).status_code == 403
    created = _grant(api, "police_admin")
    assert created.status_code == 201, created.text
    grant = created.json()
    assert grant["grantor_department_id"] == api.police and grant["actions"] == ["live"]
    assert api.client.get(CHANNEL, headers=api.login("transport_viewer")).status_code == 200
    listed = api.client.get("/api/v1/grants", headers=api.login("transport_viewer")).json()
    assert [g["id"] for g in listed] == [grant["id"]]
    assert api.client.get("/api/v1/grants", headers=api.login("police_viewer")).json() == []
    notes = api.client.get("/api/v1/notifications", headers=api.login("transport_viewer")).json()
    assert notes[0]["kind"] == "grant.created" and notes[0]["grant_id"] == grant["id"]
    read = api.client.post(
        "/api/v1/notifications/read",
        json={"ids": [notes[0]["id"]]},
        headers=api.login("transport_viewer"),
    )
    assert read.json() == {"marked": 1}
    unread = api.client.get(
        "/api/v1/notifications?unread=true", headers=api.login("transport_viewer")
    )
    assert unread.json() == []

    url = f"/api/v1/grants/{grant['id']}"
    assert api.client.delete(url, headers=api.login("transport_admin")).status_code == 403
    assert api.client.delete(url, headers=api.login("police_admin")).status_code == 204
    assert api.client.get(CHANNEL, headers=api.login("transport_viewer")).status_code == 403
    assert api.client.delete(url, headers=api.login("admin")).status_code == 404
    history = api.client.get(
        "/api/v1/grants?include_revoked=true", headers=api.login("police_admin")
    ).json()
    assert history[0]["revoked_at"] is not None


def test_only_the_owners_admins_grant(access_api: AccessApi) -> None:
    api = access_api
    assert _grant(api, "transport_admin").status_code == 403
    assert _grant(api, "police_viewer").status_code == 403
    assert _grant(api, "transport_viewer").status_code == 403
    assert _grant(api, "admin").status_code == 201


def test_grants_are_checked(access_api: AccessApi) -> None:
    api = access_api
    both = _grant(api, "police_admin", grantee_user_id=api.user_id("transport_viewer"))
    assert both.status_code == 422 and "exactly one" in both.json()["detail"]
    backwards = _grant(api, "police_admin", **window(api, 2, 1))
    assert backwards.status_code == 422
    over = _grant(api, "police_admin", **window(api, -3, -1))
    assert over.status_code == 422 and "expired" in over.json()["detail"]
    nobody = _grant(api, "police_admin", grantee_department_id=999)
    assert nobody.status_code == 404
    odd = _grant(api, "police_admin", actions=["fly"])
    assert odd.status_code == 422
    region = _grant(api, "police_admin", scope={"kind": "region", "id": "35"})
    assert region.status_code == 422 and "within 34" in region.json()["detail"]
    assert api.client.delete("/api/v1/grants/nothex", headers=api.login("admin")).status_code == 422


def test_the_access_api_is_in_openapi(access_api: AccessApi) -> None:
    paths = access_api.client.get("/api/v1/openapi.json").json()["paths"]
    for path in (
        "/api/v1/departments",
        "/api/v1/departments/{department_id}",
        "/api/v1/users",
        "/api/v1/users/{user_id}",
        "/api/v1/users/{user_id}/password",
        "/api/v1/channels/{channel_id}/ownership",
        "/api/v1/grants",
        "/api/v1/grants/{grant_id}",
        "/api/v1/access-requests",
        "/api/v1/access-requests/{request_id}",
        "/api/v1/access-requests/{request_id}/approve",
        "/api/v1/access-requests/{request_id}/reject",
        "/api/v1/access-requests/{request_id}/withdraw",
        "/api/v1/me",
        "/api/v1/notifications",
        "/api/v1/notifications/read",
    ):
        assert path in paths, path

"""``/api/v1/users`` and channel ownership: what department and system admins may change."""

from __future__ import annotations

from sightline.access.audit_events import AuditAction
from tests.access.apps import POLICE_CAM, AccessApi, access_api

__all__ = ["access_api"]


def _new(api: AccessApi, who: str, department: int, roles: list[str], name: str = "newbie") -> int:
    body = {
        "username": name,
        "password": "a-long-password",
        "department_id": department,
        "roles": roles,
    }
    resp = api.client.post("/api/v1/users", json=body, headers=api.login(who))
    return resp.status_code if resp.status_code != 201 else -int(resp.json()["id"])


def test_department_admins_create_users_in_their_department(access_api: AccessApi) -> None:
    api = access_api
    created = api.client.post(
        "/api/v1/users",
        json={
            "username": "officer",
            "password": "a-long-password",
            "display_name": "Officer Wang",
            "department_id": api.police,
            "roles": ["operator", "viewer"],
        },
        headers=api.login("police_admin"),
    )
    assert created.status_code == 201, created.text
    assert created.json()["roles"] == ["operator", "viewer"]
    assert created.json()["department_id"] == api.police
    api.headers("officer", "a-long-password")  # can log in
    assert _new(api, "police_admin", api.transport, ["viewer"]) == 403
    assert _new(api, "police_admin", api.police, ["system_admin"]) == 403
    assert _new(api, "police_admin", api.police, ["auditor"]) == 403
    assert _new(api, "police_viewer", api.police, ["viewer"]) == 403
    assert _new(api, "admin", api.police, ["auditor"], "auditor") < 0
    assert _new(api, "admin", api.police, [], "x") == 422
    assert _new(api, "admin", api.police, ["viewer"], "officer") == 409


def test_user_lists_are_filtered_to_what_one_administers(access_api: AccessApi) -> None:
    api = access_api
    names = {
        u["username"]
        for u in api.client.get("/api/v1/users", headers=api.login("police_admin")).json()
    }
    assert names == {"police_admin", "police_admin2", "police_viewer"}
    assert len(api.client.get("/api/v1/users", headers=api.login("admin")).json()) == 7
    assert api.client.get("/api/v1/users", headers=api.login("police_viewer")).status_code == 403
    me = api.user_id("police_viewer")
    own = api.client.get(f"/api/v1/users/{me}", headers=api.login("police_viewer"))
    assert own.status_code == 200 and own.json()["roles"] == ["viewer"]
    other = api.user_id("transport_viewer")
    assert (
        api.client.get(f"/api/v1/users/{other}", headers=api.login("police_admin")).status_code
        == 403
    )


def test_disabling_a_user_ends_their_session(access_api: AccessApi) -> None:
    api = access_api
    viewer = api.login("police_viewer")
    uid = api.user_id("police_viewer")
    url = f"/api/v1/users/{uid}"
    assert (
        api.client.patch(
            url, json={"disabled": True}, headers=api.login("transport_admin")
        ).status_code
        == 403
    )
    done = api.client.patch(url, json={"disabled": True}, headers=api.login("police_admin"))
    assert done.status_code == 200 and done.json()["disabled"] is True
    assert api.client.get("/api/v1/me", headers=viewer).status_code == 401
    self_disable = api.client.patch(
        f"/api/v1/users/{api.user_id('police_admin')}",
        json={"disabled": True},
        headers=api.login("police_admin"),
    )
    assert self_disable.status_code == 422


def test_roles_change_and_passwords_reset(access_api: AccessApi) -> None:
    api = access_api
    uid = api.user_id("police_viewer")
    old = api.login("police_viewer")
    promoted = api.client.patch(
        f"/api/v1/users/{uid}", json={"roles": ["exporter"]}, headers=api.login("police_admin")
    )
    assert promoted.json()["roles"] == ["exporter"]
    (change,) = [e for e in api.audit.events if e.action is AuditAction.USER_CHANGE]
    assert change.detail == {"change": "update", "user": uid, "roles": "exporter"}
    reset = api.client.post(
        f"/api/v1/users/{uid}/password",
        json={"password": "another-long-one"},
        headers=api.login("police_admin"),
    )
    assert reset.status_code == 204
    assert api.client.get("/api/v1/me", headers=old).status_code == 401
    api.headers("police_viewer", "another-long-one")
    short = api.client.post(
        f"/api/v1/users/{uid}/password", json={"password": "x"}, headers=api.login("police_admin")
    )
    assert short.status_code == 422


def test_channel_ownership_and_classification(access_api: AccessApi) -> None:
    api = access_api
    url = f"/api/v1/channels/{POLICE_CAM}/ownership"
    got = api.client.get(url, headers=api.login("police_viewer")).json()
    assert got["department_id"] == api.police and got["sharing"] == "none"
    shared = {"department_id": api.police, "classification": "public_security", "sharing": "all"}
    assert api.client.put(url, json=shared, headers=api.login("transport_admin")).status_code == 403
    assert api.client.put(url, json=shared, headers=api.login("police_admin")).status_code == 200
    # shared with every department: the transport viewer now watches live, masked
    assert (
        api.client.get(
            f"/api/v1/channels/{POLICE_CAM}", headers=api.login("transport_viewer")
        ).status_code
        == 200
    )
    private = {**shared, "classification": "department_private"}
    bad = api.client.put(url, json=private, headers=api.login("police_admin"))
    assert bad.status_code == 422 and "private" in bad.json()["detail"]
    give_away = {**shared, "department_id": api.transport}
    assert api.client.put(url, json=give_away, headers=api.login("police_admin")).status_code == 403
    assert api.client.put(url, json=give_away, headers=api.login("admin")).status_code == 200


def test_me_summarises_rights(access_api: AccessApi) -> None:
    api = access_api
    me = api.client.get("/api/v1/me", headers=api.login("police_admin")).json()
    assert me["department"]["name"] == "police"
    assert me["roles"] == ["department_admin"]
    assert me["administers"] == [api.police]
    assert "export" in me["role_actions"] and me["visible_channels"] == 1
    admin = api.client.get("/api/v1/me", headers=api.login("admin")).json()
    assert admin["is_system_admin"] and admin["administers"] is None
    assert admin["visible_channels"] is None


def test_department_admins_cannot_take_over_an_auditor_of_their_department(
    access_api: AccessApi,
) -> None:
    # Only a system admin gives the auditor role; a department admin who could reset an
    # auditor's password (or disable one) would read or silence the audit log.
    api = access_api
    auditor = -_new(api, "admin", api.police, ["auditor"], "auditor")
    assert auditor > 0
    police_admin = api.login("police_admin")
    reset = api.client.post(
        f"/api/v1/users/{auditor}/password",
        json={"password": "taken-over-now"},
        headers=police_admin,
    )
    assert reset.status_code == 403, reset.text
    disable = api.client.patch(
        f"/api/v1/users/{auditor}", json={"disabled": True}, headers=police_admin
    )
    assert disable.status_code == 403
    seen = api.client.get(f"/api/v1/users/{auditor}", headers=police_admin)
    assert seen.status_code == 200  # reading stays as it was
    by_admin = api.client.post(
        f"/api/v1/users/{auditor}/password",
        json={"password": "set-by-the-admin"},
        headers=api.login("admin"),
    )
    assert by_admin.status_code == 204


def test_refusals_of_the_access_services_are_audited_as_denials(access_api: AccessApi) -> None:
    # The policy lets a department admin manage users of their department; only the service
    # sees that the change asks for a role beyond their rights. That refusal is a permission
    # denial like any other, and the audit trail must show the attempt.
    api = access_api
    uid = api.user_id("police_viewer")
    api.audit.events.clear()
    resp = api.client.patch(
        f"/api/v1/users/{uid}", json={"roles": ["auditor"]}, headers=api.login("police_admin")
    )
    assert resp.status_code == 403, resp.text
    denied = [e for e in api.audit.events if e.action is AuditAction.PERMISSION_DENIED]
    assert len(denied) == 1, api.audit.events
    assert denied[0].username == "police_admin"
    assert denied[0].detail["request"] == f"PATCH /api/v1/users/{uid}"
    assert "system administrator" in str(denied[0].detail["reason"])

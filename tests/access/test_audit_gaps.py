"""Review gaps of issue 8 in the audit trail and administration, through the real app.

The app is the access test app with a real :class:`AuditLog` on its database as the sink of
the routers and of the access services, so every assertion reads stored, chained rows:
grant and request expiries are recorded once (gap 1), every record names the department
(gap 2), decisions carry their comment and count (gap 3), county admins stay in their region
(gap 4) and peer admins cannot take each other over (gap 5).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sightline.access.audit import AuditLog
from sightline.access.audit_events import AuditAction, AuditEvent
from sightline.access.grants import GrantService
from sightline.access.services import AccessServices, build_access_services
from sightline.api.app import ApiContext, create_app
from sightline.api.metrics import build_registry
from sightline.config import AuditSettings
from sightline.sip.stats import SipStats
from sightline.store.repositories.audit import AuditRecord, AuditRepository
from tests.access.apps import POLICE_CAM, AccessApi, access_api, window
from tests.api.conftest import KEY
from tests.directory.samples import BUSINESS_GROUP

__all__ = ["access_api"]

HOUR = 3600.0


@dataclass
class Audited:
    """The access app whose audit sink is a real audit log."""

    api: AccessApi
    client: TestClient
    log: AuditLog
    access: AccessServices

    def post(self, who: str, url: str, body: dict[str, Any]) -> Any:
        """POST ``body`` as ``who``."""
        return self.client.post(url, json=body, headers=self.api.login(who))

    def rows(self, action: str) -> list[AuditRecord]:
        """The stored records of one action, after the log wrote what it holds."""

        async def read() -> list[AuditRecord]:
            await self.log.flush()
            async with self.api.database.session() as session:
                found = await AuditRepository(session).page(0, 100_000)
            return [r for r in found if r.action == action]

        return self.api.portal.call(read)


@pytest.fixture
def audited(access_api: AccessApi, tmp_path: Path) -> Iterator[Audited]:
    """The access app, its routers and services writing to a real audit log."""
    api = access_api
    settings = AuditSettings.model_validate({"flush_interval_s": 0.01})
    log = AuditLog(api.database, KEY, settings, spill_path=tmp_path / "spill.jsonl")
    api.portal.call(log.start)
    log.departments = api.auth.access.department_name
    access = build_access_services(api.database, api.auth, audit=log)
    ctx = ApiContext(
        registry=build_registry(SipStats()),
        auth=api.auth,
        directory=api.directory,
        devices=api.devices,
        access=access,
        audit=log,
    )
    client = TestClient(create_app(ctx))
    client.portal = api.portal
    try:
        yield Audited(api, client, log, access)
    finally:
        client.portal = None
        api.portal.call(log.close)


def _grant(audited: Audited, who: str, scope: dict[str, str], end_h: float = 1.0) -> Any:
    body = {
        "grantee_department_id": audited.api.transport,
        "scope": scope,
        "actions": ["live"],
        **window(audited.api, -0.1, end_h),
    }
    return audited.post(who, "/api/v1/grants", body)


def _ask(audited: Audited, actions: list[str], **extra: Any) -> Any:
    body = {
        "scopes": [{"kind": "channel", "id": POLICE_CAM}],
        "actions": actions,
        "purpose": "incident 4711 follow-up",
        **window(audited.api, 0, 24 * 10),
        **extra,
    }
    return audited.post("transport_viewer", "/api/v1/access-requests", body)


# -- gap 1: expiries are audited, once --------------------------------------------------------


def test_a_grant_expiry_is_recorded_once_even_across_restarts(audited: Audited) -> None:
    api = audited.api
    created = _grant(audited, "police_admin", {"kind": "channel", "id": POLICE_CAM})
    assert created.status_code == 201, created.text
    grant_id = created.json()["id"]
    grants = audited.access.grants
    assert api.run(grants.record_expired) == 0  # not over yet
    api.clock.now += HOUR + 1
    assert api.run(grants.record_expired) == 1
    assert api.run(grants.record_expired) == 0
    restarted = GrantService(
        api.database, api.auth.access, audited.access.notifier, audit=audited.log
    )
    assert api.run(restarted.record_expired) == 0
    (row,) = audited.rows("grant.expire")
    assert row.detail["grant"] == grant_id
    assert row.detail["grantee_department"] == api.transport
    assert row.detail["scope"] == f"channel:{POLICE_CAM}"
    assert row.channel_id == POLICE_CAM and row.department == "police"
    assert row.user_id is None  # nobody did it: time did


def test_a_revoked_grant_leaves_no_expiry_record(audited: Audited) -> None:
    api = audited.api
    created = _grant(audited, "police_admin", {"kind": "channel", "id": POLICE_CAM}).json()
    url = f"/api/v1/grants/{created['id']}"
    revoked = audited.client.delete(url, headers=api.login("police_admin"))
    assert revoked.status_code == 204
    api.clock.now += HOUR + 1
    assert api.run(audited.access.grants.record_expired) == 0
    assert audited.rows("grant.expire") == []
    assert len(audited.rows("grant.revoke")) == 1


def test_a_pending_request_expiry_is_recorded_once(audited: Audited) -> None:
    api = audited.api
    asked = _ask(audited, ["live"])
    assert asked.status_code == 201, asked.text
    api.clock.now += 3 * 86400 + 1
    assert api.run(audited.access.requests.expire_overdue) == 1
    assert api.run(audited.access.requests.expire_overdue) == 0
    (row,) = audited.rows("request.expire")
    assert row.detail["request"] == asked.json()["id"]
    assert row.detail["requester"] == api.user_id("transport_viewer")
    assert row.department == "police" and row.channel_id == POLICE_CAM
    assert row.purpose == "incident 4711 follow-up"


# -- gap 2: the department is in every record -------------------------------------------------


def test_records_name_the_actors_department(audited: Audited) -> None:
    api = audited.api
    asked = _ask(audited, ["live"]).json()
    approved = audited.post(
        "police_admin", f"/api/v1/access-requests/{asked['id']}/approve", {"comment": "fine"}
    )
    assert approved.status_code == 200, approved.text
    assert _grant(audited, "police_admin", {"kind": "channel", "id": POLICE_CAM}).status_code == 201
    created = audited.post(
        "police_admin",
        "/api/v1/departments",
        {"name": "police lab", "parent_id": api.police, "region_prefix": None},
    )
    assert created.status_code == 201, created.text
    user = audited.post(
        "police_admin",
        "/api/v1/users",
        {
            "username": "lab_viewer",
            "password": "lab-viewer-pw",
            "department_id": api.police,
            "roles": ["viewer"],
        },
    )
    assert user.status_code == 201, user.text
    owned = audited.client.put(
        f"/api/v1/channels/{POLICE_CAM}/ownership",
        json={"department_id": api.police, "classification": "public_security"},
        headers=api.login("police_admin"),
    )
    assert owned.status_code == 200, owned.text
    expected = {
        "request.create": {"transport"},
        "request.decide": {"police"},
        "grant.create": {"police"},  # the one by police_admin and the one the approval made
        "department.change": {"police"},
        "user.change": {"police"},
        "config.change": {"police"},
    }
    for action, departments in expected.items():
        rows = audited.rows(action)
        assert rows, action
        assert {r.department for r in rows} == departments, action


# -- gap 3: a decision's comment and count ----------------------------------------------------


def test_a_decision_record_says_who_decided_what_why_and_how_far(audited: Audited) -> None:
    asked = _ask(audited, ["live", "export"]).json()  # export: two approvals
    url = f"/api/v1/access-requests/{asked['id']}"
    first = audited.post("police_admin", f"{url}/approve", {"comment": "for the court file"})
    assert first.status_code == 200 and first.json()["state"] == "pending"
    second = audited.post("police_admin2", f"{url}/approve", {"comment": "agreed"})
    assert second.json()["state"] == "approved"
    rows = audited.rows("request.decide")
    assert [r.username for r in rows] == ["police_admin", "police_admin2"]
    assert [r.detail["comment"] for r in rows] == ["for the court file", "agreed"]
    assert [r.detail["approvals"] for r in rows] == [1, 2]
    assert {r.detail["approvals_needed"] for r in rows} == {2}
    assert [r.detail["state"] for r in rows] == ["pending", "approved"]
    assert {r.detail["request"] for r in rows} == {asked["id"]}
    assert {r.detail["decision"] for r in rows} == {"approve"}

    other = _ask(audited, ["live"]).json()
    no = audited.post(
        "police_admin", f"/api/v1/access-requests/{other['id']}/reject", {"comment": "no case"}
    )
    assert no.json()["state"] == "rejected"
    last = audited.rows("request.decide")[-1]
    assert last.detail["decision"] == "reject" and last.detail["comment"] == "no case"
    assert last.detail["approve"] is False and last.detail["state"] == "rejected"


# -- gaps 4 and 5 through the API -------------------------------------------------------------


def test_a_county_admin_cannot_grant_a_group_reaching_outside_the_county(
    audited: Audited,
) -> None:
    api = audited.api
    county = audited.post(
        "admin",
        "/api/v1/departments",
        {"name": "county", "parent_id": api.police, "region_prefix": "340203"},
    ).json()
    user = {
        "username": "county_admin",
        "password": "county_admin-pw",
        "department_id": county["id"],
        "roles": ["department_admin"],
    }
    assert audited.post("admin", "/api/v1/users", user).status_code == 201
    group = {"kind": "group", "id": BUSINESS_GROUP}  # its gate camera lies in 34020201
    refused = _grant(audited, "county_admin", group)
    assert refused.status_code == 403 and "outside region 340203" in refused.text
    (denied,) = audited.rows("denied")
    assert denied.username == "county_admin" and denied.department == "county"
    assert _grant(audited, "police_admin", group).status_code == 201  # region 34: inside


def test_peer_admins_cannot_take_each_other_over(audited: Audited) -> None:
    api = audited.api
    peer = f"/api/v1/users/{api.user_id('police_admin2')}"
    password = {"password": "taken-over-pw"}
    assert audited.post("police_admin", f"{peer}/password", password).status_code == 403
    disable = audited.client.patch(peer, json={"disabled": True}, headers=api.login("police_admin"))
    assert disable.status_code == 403
    demote = audited.client.patch(
        peer, json={"roles": ["viewer"]}, headers=api.login("transport_admin")
    )
    assert demote.status_code == 403
    assert api.client.get("/api/v1/me", headers=api.login("police_admin2")).status_code == 200
    viewer = f"/api/v1/users/{api.user_id('police_viewer')}"
    assert audited.post("police_admin", f"{viewer}/password", password).status_code == 204
    assert audited.post("admin", f"{peer}/password", password).status_code == 204
    assert {r.username for r in audited.rows("denied")} == {"police_admin", "transport_admin"}


# -- gap 7: routers reach the database only through services ----------------------------------


@pytest.mark.parametrize(
    "router",
    ["notifications", "access_requests", "grants", "departments", "users", "me", "audit"],
)
def test_access_routers_do_not_use_the_store(router: str) -> None:
    source = Path(__file__).parents[2] / "src/sightline/api/routers" / f"{router}.py"
    tree = ast.parse(source.read_text(encoding="utf-8"))
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sightline.store")
        for alias in node.names
    }  # the value types of the store are fine; its repositories and sessions are not
    assert not {name for name in imported if name.endswith("Repository")}, imported
    assert "session()" not in source.read_text(encoding="utf-8")


def test_a_given_department_is_kept_and_unknown_users_stay_without(audited: Audited) -> None:
    api = audited.api
    police_admin = api.user_id("police_admin")
    audited.log.record(AuditEvent(AuditAction.PTZ, user_id=police_admin, department="elsewhere"))
    audited.log.record(AuditEvent(AuditAction.PTZ, user_id=police_admin))
    audited.log.record(AuditEvent(AuditAction.PTZ, user_id=999_999))
    audited.log.record(AuditEvent(AuditAction.PTZ))
    assert [r.department for r in audited.rows("ptz")] == ["elsewhere", "police", None, None]

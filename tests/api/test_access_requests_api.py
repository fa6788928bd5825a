"""The request → approval → grant → expiry workflow through the REST API."""

from __future__ import annotations

from typing import Any

from sightline.access.actions import Action, Principal, Resource
from tests.access.apps import POLICE_CAM, AccessApi, access_api, window

__all__ = ["access_api"]

CHANNEL = f"/api/v1/channels/{POLICE_CAM}"


def _ask(api: AccessApi, who: str, actions: list[str], **extra: Any) -> Any:
    body = {
        "scopes": [{"kind": "channel", "id": POLICE_CAM}],
        "actions": actions,
        "purpose": "traffic accident at the gate, case 2026-118",
        **window(api),
        **extra,
    }
    return api.client.post("/api/v1/access-requests", json=body, headers=api.login(who))


def _decide(api: AccessApi, who: str, request_id: int, verdict: str = "approve") -> Any:
    return api.client.post(
        f"/api/v1/access-requests/{request_id}/{verdict}",
        json={"comment": "ok" if verdict == "approve" else "not needed"},
        headers=api.login(who),
    )


def _channel_ids(api: AccessApi, who: str) -> set[str]:
    page = api.client.get("/api/v1/channels", headers=api.login(who)).json()
    return {c["id"] for c in page["items"]}


def _may(api: AccessApi, who: str, action: Action) -> bool:
    principal = Principal(api.user_id(who), who, False)
    decision = api.run(api.auth.decide, principal, action, Resource.channel(POLICE_CAM))
    return decision.allowed


def test_transport_viewer_is_denied_until_approved_then_again_after_expiry(
    access_api: AccessApi,
) -> None:
    api = access_api
    assert api.client.get(CHANNEL, headers=api.login("transport_viewer")).status_code == 403
    assert POLICE_CAM not in _channel_ids(api, "transport_viewer")

    asked = _ask(api, "transport_viewer", ["live", "playback"])
    assert asked.status_code == 201, asked.text
    request = asked.json()
    assert request["state"] == "pending" and request["approvals_needed"] == 1
    assert request["department_id"] == api.police

    inbox = api.client.get(
        "/api/v1/access-requests?box=to_decide", headers=api.login("police_admin")
    ).json()
    assert [r["id"] for r in inbox] == [request["id"]]
    notes = api.client.get("/api/v1/notifications", headers=api.login("police_admin")).json()
    assert notes[0]["kind"] == "request.created" and notes[0]["request_id"] == request["id"]
    assert "case 2026-118" in notes[0]["text"]
    # the other department's admin has nothing to decide
    assert (
        api.client.get(
            "/api/v1/access-requests?box=to_decide", headers=api.login("transport_admin")
        ).json()
        == []
    )

    approved = _decide(api, "police_admin", request["id"])
    assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "approved"
    assert api.client.get(CHANNEL, headers=api.login("transport_viewer")).status_code == 200
    assert POLICE_CAM in _channel_ids(api, "transport_viewer")
    assert _may(api, "transport_viewer", Action.LIVE)
    assert _may(api, "transport_viewer", Action.PLAYBACK)
    assert not _may(api, "transport_viewer", Action.EXPORT)
    assert not _may(api, "transport_viewer", Action.UNMASKED)  # masked-only by default
    me = api.client.get("/api/v1/me", headers=api.login("transport_viewer")).json()
    assert [g["request_id"] for g in me["grants"]] == [request["id"]]
    decided = api.client.get("/api/v1/notifications", headers=api.login("transport_viewer"))
    assert [n["kind"] for n in decided.json()] == ["request.decided", "grant.created"]

    api.clock.now += 2 * 3600 + 1  # past not_after
    assert api.client.get(CHANNEL, headers=api.login("transport_viewer")).status_code == 403
    assert POLICE_CAM not in _channel_ids(api, "transport_viewer")


def test_export_needs_two_different_approvers(access_api: AccessApi) -> None:
    api = access_api
    request = _ask(api, "transport_viewer", ["export"]).json()
    assert request["approvals_needed"] == 2
    first = _decide(api, "police_admin", request["id"])
    assert first.json()["state"] == "pending" and len(first.json()["approvals"]) == 1
    assert not _may(api, "transport_viewer", Action.EXPORT)
    again = _decide(api, "police_admin", request["id"])
    assert again.status_code == 409
    second = _decide(api, "police_admin2", request["id"])
    assert second.json()["state"] == "approved"
    assert _may(api, "transport_viewer", Action.EXPORT)


def test_unmasked_requests_need_two_approvals_too(access_api: AccessApi) -> None:
    api = access_api
    request = _ask(api, "transport_viewer", ["live"], masked_only=False).json()
    assert request["approvals_needed"] == 2


def test_requesters_never_decide_and_strangers_neither(access_api: AccessApi) -> None:
    api = access_api
    request = _ask(api, "police_viewer", ["export"]).json()
    assert _decide(api, "transport_admin", request["id"]).status_code == 404  # not theirs to see
    assert _decide(api, "police_viewer", request["id"]).status_code == 403
    own = _ask(api, "police_admin", ["export"]).json()
    assert _decide(api, "police_admin", own["id"]).status_code == 403


def test_rejection_and_withdrawal_end_a_request(access_api: AccessApi) -> None:
    api = access_api
    rejected = _decide(
        api, "police_admin", _ask(api, "transport_viewer", ["live"]).json()["id"], "reject"
    )
    assert rejected.json()["state"] == "rejected" and rejected.json()["reason"] == "not needed"
    assert not _may(api, "transport_viewer", Action.LIVE)
    request = _ask(api, "transport_viewer", ["live"]).json()
    stranger = api.client.post(
        f"/api/v1/access-requests/{request['id']}/withdraw", headers=api.login("police_viewer")
    )
    assert stranger.status_code == 403
    withdrawn = api.client.post(
        f"/api/v1/access-requests/{request['id']}/withdraw", headers=api.login("transport_viewer")
    )
    assert withdrawn.json()["state"] == "withdrawn"
    assert _decide(api, "police_admin", request["id"]).status_code == 409
    mine = api.client.get(
        "/api/v1/access-requests?box=mine", headers=api.login("transport_viewer")
    ).json()
    assert [r["state"] for r in mine] == ["withdrawn", "rejected"]


def test_pending_requests_expire(access_api: AccessApi) -> None:
    api = access_api
    request = _ask(api, "transport_viewer", ["live"], **window(api, 0, 24 * 10)).json()
    api.clock.now += 3 * 86400 + 1
    assert _decide(api, "police_admin", request["id"]).status_code == 409
    got = api.client.get(
        f"/api/v1/access-requests/{request['id']}", headers=api.login("transport_viewer")
    )
    assert got.json()["state"] == "expired"
    notes = api.client.get("/api/v1/notifications", headers=api.login("transport_viewer")).json()
    assert notes[0]["kind"] == "request.decided" and "expired" in notes[0]["text"]


def test_bad_requests_get_clear_errors(access_api: AccessApi) -> None:
    api = access_api
    short = _ask(api, "transport_viewer", ["live"], purpose="x")
    assert short.status_code == 422 and "purpose" in short.text
    unknown = api.client.post(
        "/api/v1/access-requests",
        json={
            "scopes": [{"kind": "channel", "id": "34020000001329999999"}],
            "actions": ["live"],
            "purpose": "checking something",
            **window(api),
        },
        headers=api.login("transport_viewer"),
    )
    assert unknown.status_code == 404
    mixed = api.client.post(
        "/api/v1/access-requests",
        json={
            "scopes": [
                {"kind": "channel", "id": POLICE_CAM},
                {"kind": "channel", "id": "34020000001320000002"},
            ],
            "actions": ["live"],
            "purpose": "checking something",
            **window(api),
        },
        headers=api.login("transport_viewer"),
    )
    assert mixed.status_code == 422 and "department" in mixed.json()["detail"]
    over = _ask(api, "transport_viewer", ["live"], **window(api, -3, -1))
    assert over.status_code == 422
    not_json = api.client.post(
        "/api/v1/access-requests", content=b"x", headers=api.login("transport_viewer")
    )
    assert not_json.status_code == 415
    assert api.client.get("/api/v1/access-requests").status_code == 401


def test_group_requests_name_the_department_to_ask(access_api: AccessApi) -> None:
    api = access_api
    body = {
        "scopes": [{"kind": "group", "id": "34020000002150000001"}],
        "actions": ["live"],
        "purpose": "flood watch along the river",
        "department_id": api.police,
        **window(api),
    }
    request = api.client.post(
        "/api/v1/access-requests", json=body, headers=api.login("transport_viewer")
    ).json()
    assert _decide(api, "police_admin", request["id"]).json()["state"] == "approved"
    # the group holds the gate camera (police) and others the root owns: only police's are given
    assert _may(api, "transport_viewer", Action.LIVE)
    principal = Principal(api.user_id("transport_viewer"), "transport_viewer", False)
    other = Resource.channel("34020000001320000002")
    assert not api.run(api.auth.decide, principal, Action.LIVE, other).allowed


def test_a_request_whose_window_passed_cannot_be_approved(access_api: AccessApi) -> None:
    api = access_api
    request = _ask(api, "transport_viewer", ["live"], **window(api, 0, 1)).json()
    api.clock.now += 3601
    late = _decide(api, "police_admin", request["id"])
    assert late.status_code == 409 and "over" in late.json()["detail"]

"""``/api/v1/departments``: who may change the tree, and the checks on each change."""

from __future__ import annotations

from tests.access.apps import AccessApi, access_api

__all__ = ["access_api"]

URL = "/api/v1/departments"


def test_everyone_reads_the_tree(access_api: AccessApi) -> None:
    api = access_api
    tree = api.client.get(URL, headers=api.login("transport_viewer")).json()
    assert [(d["name"], d["parent_id"]) for d in tree] == [
        ("root", None),
        ("police", 1),
        ("transport", 1),
    ]
    assert api.client.get(URL).status_code == 401


def test_department_admins_add_below_their_own_only(access_api: AccessApi) -> None:
    api = access_api
    county = {"name": "county police", "parent_id": api.police, "region_prefix": "3402"}
    created = api.client.post(URL, json=county, headers=api.login("police_admin"))
    assert created.status_code == 201, created.text
    assert created.json()["region_prefix"] == "3402"
    elsewhere = {"name": "bus depot", "parent_id": api.transport}
    assert (
        api.client.post(URL, json=elsewhere, headers=api.login("police_admin")).status_code == 403
    )
    top = {"name": "emergency", "parent_id": 1}
    assert api.client.post(URL, json=top, headers=api.login("police_admin")).status_code == 403
    assert api.client.post(URL, json=top, headers=api.login("admin")).status_code == 201
    assert api.client.post(URL, json=top, headers=api.login("admin")).status_code == 409
    viewer = {"name": "x", "parent_id": api.police}
    assert api.client.post(URL, json=viewer, headers=api.login("police_viewer")).status_code == 403


def test_region_prefixes_nest(access_api: AccessApi) -> None:
    api = access_api
    outside = {"name": "other county", "parent_id": api.police, "region_prefix": "3502"}
    wrong = api.client.post(URL, json=outside, headers=api.login("police_admin"))
    assert wrong.status_code == 422 and "3502" in wrong.json()["detail"]
    odd = {"name": "odd", "parent_id": api.police, "region_prefix": "340"}
    assert api.client.post(URL, json=odd, headers=api.login("police_admin")).status_code == 422


def test_moving_renaming_and_deleting(access_api: AccessApi) -> None:
    api = access_api
    admin = api.login("admin")
    county = api.client.post(
        URL, json={"name": "county", "parent_id": api.police}, headers=admin
    ).json()
    below_itself = {"name": "police", "parent_id": county["id"]}
    moved = api.client.put(f"{URL}/{api.police}", json=below_itself, headers=admin)
    assert moved.status_code == 422 and "below itself" in moved.json()["detail"]
    renamed = api.client.put(
        f"{URL}/{county['id']}",
        json={"name": "county bureau", "parent_id": api.police},
        headers=api.login("police_admin"),
    )
    assert renamed.status_code == 200 and renamed.json()["name"] == "county bureau"
    # police is not empty (users, a channel): refused; the empty county goes
    assert api.client.delete(f"{URL}/{api.police}", headers=admin).status_code == 422
    assert api.client.delete(f"{URL}/1", headers=admin).status_code == 422
    gone = api.client.delete(f"{URL}/{county['id']}", headers=api.login("police_admin"))
    assert gone.status_code == 204
    assert api.client.delete(f"{URL}/999", headers=admin).status_code == 404
    root = api.client.put(f"{URL}/1", json={"name": "all", "parent_id": None}, headers=admin)
    assert root.status_code == 200

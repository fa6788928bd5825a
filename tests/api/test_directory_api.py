"""GET /api/v1/regions and /api/v1/groups."""

from __future__ import annotations

from tests.api.conftest import Api
from tests.directory.samples import BUSINESS_GROUP, VIRTUAL_ORG, VIRTUAL_ORG_2


def test_region_tree(api: Api) -> None:
    resp = api.client.get("/api/v1/regions", headers=api.headers())
    assert resp.status_code == 200
    body = resp.json()
    assert body["unplaced"] == 1
    (province,) = body["regions"]
    assert (province["code"], province["name"], province["level"]) == ("34", "安徽省", "province")
    (city,) = province["children"]
    assert (city["name"], city["channel_count"], city["total_channels"]) == ("芜湖市", 1, 2)
    (county,) = city["children"]
    assert (county["code"], county["name"], county["named"], county["level"]) == (
        "340202",
        "340202",
        False,
        "county",
    )
    (town,) = county["children"]
    assert (town["name"], town["level"], town["channel_count"], town["children"]) == (
        "镜湖街道",
        "township",
        1,
        [],
    )


def test_group_tree(api: Api) -> None:
    resp = api.client.get("/api/v1/groups", headers=api.headers())
    assert resp.status_code == 200
    (business,) = resp.json()["groups"]
    assert (business["id"], business["kind"], business["name"]) == (
        BUSINESS_GROUP,
        "business",
        "治安监控",
    )
    (east,) = business["children"]
    assert (east["id"], east["kind"], east["business_group_id"], east["channel_count"]) == (
        VIRTUAL_ORG,
        "virtual",
        BUSINESS_GROUP,
        1,
    )
    assert [g["id"] for g in east["children"]] == [VIRTUAL_ORG_2]

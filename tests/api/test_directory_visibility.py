"""The region and group trees count only what the user may see, and hide what is empty for them."""

from __future__ import annotations

from typing import Any

from tests.access.apps import POLICE_CAM, AccessApi, access_api
from tests.directory.samples import VIRTUAL_ORG

__all__ = ["access_api"]


def _get(api: AccessApi, who: str, path: str) -> Any:
    resp = api.client.get(path, headers=api.login(who))
    assert resp.status_code == 200, resp.text
    return resp.json()


def _visible(api: AccessApi, who: str) -> set[str]:
    return {c["id"] for c in _get(api, who, "/api/v1/channels?limit=1000")["items"]}


def _region_codes(nodes: list[Any]) -> set[str]:
    return {n["code"] for n in nodes} | {c for n in nodes for c in _region_codes(n["children"])}


def _group_counts(nodes: list[Any]) -> dict[str, int]:
    counts = {n["id"]: n["channel_count"] for n in nodes}
    for n in nodes:
        counts |= _group_counts(n["children"])
    return counts


def _placed(tree: Any) -> int:
    return int(sum(r["total_channels"] for r in tree["regions"])) + int(tree["unplaced"])


def test_counts_follow_what_each_user_may_see(access_api: AccessApi) -> None:
    api = access_api
    everything = _get(api, "admin", "/api/v1/regions")
    police = _get(api, "police_viewer", "/api/v1/regions")
    transport = _get(api, "transport_viewer", "/api/v1/regions")

    assert POLICE_CAM in _visible(api, "police_viewer")
    assert POLICE_CAM not in _visible(api, "transport_viewer")
    for who, tree in (("police_viewer", police), ("transport_viewer", transport)):
        assert _placed(tree) == len(_visible(api, who)), (who, tree)
    assert _placed(everything) == len(_visible(api, "admin"))
    assert _placed(transport) < _placed(everything)

    # the gate camera's township (34020201) is there for the police only
    assert "34020201" in _region_codes(everything["regions"])
    assert "34020201" in _region_codes(police["regions"])
    assert "34020201" not in _region_codes(transport["regions"])
    # nobody gets an area with nothing in it for them
    for tree in (police, transport):
        stack = list(tree["regions"])
        while stack:
            node = stack.pop()
            assert node["total_channels"] > 0, node
            stack.extend(node["children"])

    # the gate camera sits in the virtual organisation 东区: counted for the police, not transport
    assert _group_counts(_get(api, "police_viewer", "/api/v1/groups")["groups"])[VIRTUAL_ORG] >= 1
    transport_groups = _group_counts(_get(api, "transport_viewer", "/api/v1/groups")["groups"])
    assert transport_groups.get(VIRTUAL_ORG, 0) == 0

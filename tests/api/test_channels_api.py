"""GET /api/v1/channels (filters), /channels/{id} and POST /channels/{id}/ptz."""

from __future__ import annotations

import pytest

from sightline.gb28181.errors import DeviceOfflineError, DeviceTimeoutError
from sightline.gb28181.ptz import PtzCommand
from tests.api.conftest import Api
from tests.directory.samples import (
    ALARM_IN,
    CAM_GATE,
    CAM_PARK,
    NVR,
    VIRTUAL_ORG,
    VIRTUAL_ORG_2,
)


def _ids(api: Api, query: str) -> list[str]:
    resp = api.client.get(f"/api/v1/channels{query}", headers=api.headers())
    assert resp.status_code == 200, resp.text
    return [c["id"] for c in resp.json()["items"]]


def test_channel_list_and_filters(api: Api) -> None:
    assert _ids(api, "") == [CAM_GATE, CAM_PARK, ALARM_IN]
    assert _ids(api, f"?device={NVR}") == [CAM_GATE, CAM_PARK, ALARM_IN]
    assert _ids(api, "?device=34020000001320000100") == []
    assert _ids(api, "?region=3402") == [CAM_GATE, CAM_PARK]
    assert _ids(api, "?region=340200") == [CAM_GATE, CAM_PARK]
    assert _ids(api, "?region=34020201") == [CAM_GATE]
    assert _ids(api, f"?group={VIRTUAL_ORG}") == [CAM_GATE]
    assert _ids(api, f"?group={VIRTUAL_ORG_2}&online=false") == [CAM_PARK]
    assert _ids(api, "?online=true&limit=1&offset=1") == [ALARM_IN]


def test_one_channel(api: Api) -> None:
    headers = api.headers()
    gate = api.client.get(f"/api/v1/channels/{CAM_GATE}", headers=headers).json()
    assert gate["device_id"] == NVR
    assert (gate["online"], gate["status"], gate["device_online"]) == (True, "ON", False)
    assert (gate["longitude"], gate["latitude"], gate["civil_code"]) == (
        118.376451,
        31.326319,
        "34020201",
    )
    assert gate["extra"] == {"safety_way": "0", "resolution": "6/5/4"}
    assert (
        api.client.get("/api/v1/channels/34020000001320000999", headers=headers).status_code == 404
    )


# Expected PTZCmd strings worked out by hand from GB/T 28181 A.3: A5 0F 01, command, data 1-3, sum.
@pytest.mark.parametrize(
    ("body", "ptzcmd"),
    [
        ({"action": "left"}, "A50F010280000037"),  # 02 left, pan speed 80
        ({"action": "upright", "speed": 16}, "A50F0109101000DE"),  # 08 up | 01 right
        ({"action": "zoom_in", "speed": 255}, "A50F01100000F0B5"),  # 10 zoom in, speed F
        ({"action": "zoom_out"}, "A50F012000008055"),  # 20 zoom out, speed 8
        ({"action": "focus_near", "speed": 1}, "A50F0142010000F8"),  # 42 focus near
        ({"action": "iris_open", "speed": 2}, "A50F0144000200FB"),  # 44 iris open, byte 6
        ({"action": "stop"}, "A50F0100000000B5"),
        ({"action": "lens_stop"}, "A50F0140000000F5"),
        ({"action": "preset_call", "preset": 3}, "A50F01820003003A"),
        ({"action": "preset_set", "preset": 255}, "A50F018100FF0035"),
        ({"action": "preset_delete", "preset": 1}, "A50F018300010039"),
    ],
)
def test_ptz_sends_the_command(api: Api, body: dict[str, object], ptzcmd: str) -> None:
    resp = api.client.post(f"/api/v1/channels/{CAM_GATE}/ptz", json=body, headers=api.headers())
    assert resp.status_code == 204, resp.text
    assert api.devices.calls == [("ptz", NVR, CAM_GATE, PtzCommand.decode(ptzcmd))]
    command = api.devices.calls[0][3]
    assert isinstance(command, PtzCommand) and command.encode() == ptzcmd


@pytest.mark.parametrize(
    "body",
    [
        {"action": "preset_call"},
        {"action": "left", "preset": 3},
        {"action": "preset_call", "preset": 0},
        {"action": "preset_call", "preset": 256},
        {"action": "left", "speed": 256},
        {"action": "left", "speed": -1},
        {"action": "spin"},
        {"action": "left", "extra": 1},
        {},
        [],
        "left",
    ],
)
def test_bad_ptz_requests_are_422(api: Api, body: object) -> None:
    resp = api.client.post(f"/api/v1/channels/{CAM_GATE}/ptz", json=body, headers=api.headers())
    assert resp.status_code == 422
    assert isinstance(resp.json()["detail"], str)
    assert api.devices.calls == []


def test_ptz_on_an_unknown_channel_is_404(api: Api) -> None:
    resp = api.client.post(
        "/api/v1/channels/34020000001320000999/ptz", json={"action": "stop"}, headers=api.headers()
    )
    assert resp.status_code == 404
    assert api.devices.calls == []


@pytest.mark.parametrize(
    ("error", "status"), [(DeviceOfflineError("x"), 503), (DeviceTimeoutError("x"), 504)]
)
def test_ptz_device_errors(api: Api, error: Exception, status: int) -> None:
    api.devices.error = error
    resp = api.client.post(
        f"/api/v1/channels/{CAM_GATE}/ptz", json={"action": "up"}, headers=api.headers()
    )
    assert resp.status_code == status
    assert resp.json()["detail"].startswith(f"device {NVR} ")

"""GET /api/v1/devices, /devices/{id} and POST /devices/{id}/catalog/refresh."""

from __future__ import annotations

import pytest

from sightline.gb28181.errors import (
    DeviceOfflineError,
    DeviceRejectedError,
    DeviceTimeoutError,
    Gb28181Error,
    UnknownDeviceError,
)
from tests.api.conftest import IPC, Api, device_record
from tests.directory.samples import CAM_ROAD, NVR, NVR_CATALOG_2022, catalog_items


def test_device_list(api: Api) -> None:
    resp = api.client.get("/api/v1/devices", headers=api.headers())
    assert resp.status_code == 200
    body = resp.json()
    assert (body["total"], body["limit"], body["offset"]) == (2, 100, 0)
    nvr, ipc = body["items"]
    assert nvr == {
        "id": NVR,
        "name": "一号楼 NVR",
        "online": False,
        "manufacturer": "Hikvision",
        "model": "",
        "firmware": "",
        "transport": "UDP",
        "gb_version": "2016",
        "channel_count": 3,
        "last_seen": None,
        "registered_at": None,
        "remote": "192.0.2.20:5060",
    }
    assert (ipc["id"], ipc["online"], ipc["remote"]) == (IPC, True, "[2001:db8::5]:5070")
    assert "password_ha1" not in nvr and "realm" not in nvr


def test_device_list_paging_and_filter(api: Api) -> None:
    headers = api.headers()
    page = api.client.get("/api/v1/devices?limit=1&offset=1", headers=headers).json()
    assert ([d["id"] for d in page["items"]], page["total"]) == ([IPC], 2)
    # The filter is on the stored state, which the device manager writes on transitions.
    stored_offline = api.client.get("/api/v1/devices?online=false", headers=headers).json()
    assert stored_offline["total"] == 2


def test_one_device(api: Api) -> None:
    headers = api.headers()
    resp = api.client.get(f"/api/v1/devices/{IPC}", headers=headers)
    assert resp.status_code == 200 and resp.json()["online"] is True
    missing = api.client.get("/api/v1/devices/34020000001320000999", headers=headers)
    assert missing.status_code == 404
    assert missing.json() == {"detail": "device 34020000001320000999 is not known"}


def test_catalog_refresh_imports_through_the_directory(api: Api) -> None:
    api.devices.catalogs[NVR] = catalog_items(NVR_CATALOG_2022)
    resp = api.client.post(f"/api/v1/devices/{NVR}/catalog/refresh", headers=api.headers())
    assert resp.status_code == 200
    assert resp.json() == {"device_id": NVR, "channel_count": 2}
    assert api.devices.calls == [("refresh", NVR)]
    record = device_record(api, NVR)
    assert record is not None and record.channel_count == 2
    road = api.client.get(f"/api/v1/channels/{CAM_ROAD}", headers=api.headers())
    assert road.json()["name"] == "路口"


def test_catalog_refresh_of_an_unknown_device_is_404(api: Api) -> None:
    resp = api.client.post(
        "/api/v1/devices/34020000001320000999/catalog/refresh", headers=api.headers()
    )
    assert resp.status_code == 404
    assert api.devices.calls == []


@pytest.mark.parametrize(
    ("error", "status", "detail"),
    [
        (DeviceOfflineError("x"), 503, f"device {NVR} is offline"),
        (DeviceTimeoutError("x"), 504, f"device {NVR} did not answer in time"),
        (
            DeviceRejectedError("488 Not Acceptable"),
            502,
            f"device {NVR} answered with an error: 488 Not Acceptable",
        ),
        (UnknownDeviceError("x"), 404, f"device {NVR} is not known"),
    ],
)
def test_device_errors_map_to_statuses(
    api: Api, error: Gb28181Error, status: int, detail: str
) -> None:
    api.devices.error = error
    resp = api.client.post(f"/api/v1/devices/{NVR}/catalog/refresh", headers=api.headers())
    assert resp.status_code == status
    assert resp.json() == {"detail": detail}

"""Devices as the API shows them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from sightline.store import Device

__all__ = ["CatalogRefreshOut", "DeviceOut"]


def _remote(device: Device) -> str | None:
    host, port = device.remote_host, device.remote_port
    if host is None or port is None:
        return None
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class DeviceOut(BaseModel):
    """A GB/T 28181 device; ``online`` is live, ``remote`` the address it registered from."""

    id: str
    name: str
    online: bool
    manufacturer: str
    model: str
    firmware: str
    transport: str
    gb_version: str
    channel_count: int
    last_seen: datetime | None
    registered_at: datetime | None
    remote: str | None

    @classmethod
    def of(cls, device: Device) -> DeviceOut:
        """The view of a device record (its secrets, such as the digest HA1, stay out)."""
        return cls(
            id=device.id,
            name=device.name,
            online=device.online,
            manufacturer=device.manufacturer,
            model=device.model,
            firmware=device.firmware,
            transport=device.transport.value,
            gb_version=device.gb_version.value,
            channel_count=device.channel_count,
            last_seen=device.last_seen,
            registered_at=device.registered_at,
            remote=_remote(device),
        )


class CatalogRefreshOut(BaseModel):
    """The answer to a catalog refresh."""

    device_id: str
    channel_count: int

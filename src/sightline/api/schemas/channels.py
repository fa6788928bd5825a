"""Channels and PTZ requests as the API shows and takes them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sightline.gb28181.ptz import PresetAction, PtzCommand
from sightline.store import Channel, ChannelStatus

__all__ = ["ChannelOut", "PtzAction", "PtzIn"]


class ChannelOut(BaseModel):
    """A channel; ``online`` is its catalog status, ``device_online`` its device's live state."""

    id: str
    device_id: str
    name: str
    online: bool
    status: str
    device_online: bool
    manufacturer: str | None
    model: str | None
    owner: str | None
    civil_code: str | None
    block: str | None
    address: str | None
    parental: int | None
    parent_id: str | None
    business_group_id: str | None
    register_way: int | None
    secrecy: int | None
    ip_address: str | None
    port: int | None
    longitude: float | None
    latitude: float | None
    ptz_type: int | None
    extra: dict[str, str]
    updated_at: datetime

    @classmethod
    def of(cls, channel: Channel, device_online: bool) -> ChannelOut:
        """The view of a channel record."""
        return cls(
            id=channel.id,
            device_id=channel.device_id,
            name=channel.name,
            online=channel.status is ChannelStatus.ON,
            status=channel.status.value,
            device_online=device_online,
            manufacturer=channel.manufacturer,
            model=channel.model,
            owner=channel.owner,
            civil_code=channel.civil_code,
            block=channel.block,
            address=channel.address,
            parental=channel.parental,
            parent_id=channel.parent_id,
            business_group_id=channel.business_group_id,
            register_way=channel.register_way,
            secrecy=channel.secrecy,
            ip_address=channel.ip_address,
            port=channel.port,
            longitude=channel.longitude,
            latitude=channel.latitude,
            ptz_type=channel.ptz_type,
            extra=dict(channel.extra),
            updated_at=channel.updated_at,
        )


class PtzAction(StrEnum):
    """What a PTZ request does."""

    LEFT = "left"
    RIGHT = "right"
    UP = "up"
    DOWN = "down"
    UPLEFT = "upleft"
    UPRIGHT = "upright"
    DOWNLEFT = "downleft"
    DOWNRIGHT = "downright"
    ZOOM_IN = "zoom_in"
    ZOOM_OUT = "zoom_out"
    FOCUS_NEAR = "focus_near"
    FOCUS_FAR = "focus_far"
    IRIS_OPEN = "iris_open"
    IRIS_CLOSE = "iris_close"
    STOP = "stop"
    LENS_STOP = "lens_stop"
    PRESET_SET = "preset_set"
    PRESET_CALL = "preset_call"
    PRESET_DELETE = "preset_delete"


_A = PtzAction
# (pan, tilt): +1 right / up, -1 left / down.
_MOVES: dict[PtzAction, tuple[int, int]] = {
    _A.LEFT: (-1, 0),
    _A.RIGHT: (1, 0),
    _A.UP: (0, 1),
    _A.DOWN: (0, -1),
    _A.UPLEFT: (-1, 1),
    _A.UPRIGHT: (1, 1),
    _A.DOWNLEFT: (-1, -1),
    _A.DOWNRIGHT: (1, -1),
}
_PRESETS = {
    _A.PRESET_SET: PresetAction.SET,
    _A.PRESET_CALL: PresetAction.CALL,
    _A.PRESET_DELETE: PresetAction.DELETE,
}
_LENS = {_A.FOCUS_FAR: 1, _A.FOCUS_NEAR: -1, _A.IRIS_OPEN: 1, _A.IRIS_CLOSE: -1}


class PtzIn(BaseModel):
    """A PTZ request: ``speed`` 0-255 (zoom uses its top 4 bits), ``preset`` 1-255."""

    model_config = ConfigDict(extra="forbid")

    action: PtzAction
    speed: int = Field(default=128, ge=0, le=255)
    preset: int | None = Field(default=None, ge=1, le=255)

    @model_validator(mode="after")
    def _preset_when_needed(self) -> Self:
        if (self.action in _PRESETS) != (self.preset is not None):
            raise ValueError("preset (1-255) is required for preset actions and only for them")
        return self

    def command(self) -> PtzCommand:
        """The PTZCmd this request asks for."""
        action = self.action
        if action in _MOVES:
            pan, tilt = _MOVES[action]
            return PtzCommand.move(pan, tilt, self.speed)
        if action in (_A.ZOOM_IN, _A.ZOOM_OUT):
            # The zoom speed field is a nibble (0-15).
            return PtzCommand.zoom(1 if action is _A.ZOOM_IN else -1, self.speed >> 4)
        if action in (_A.FOCUS_FAR, _A.FOCUS_NEAR):
            return PtzCommand.focus(_LENS[action], self.speed)
        if action in (_A.IRIS_OPEN, _A.IRIS_CLOSE):
            return PtzCommand.iris(_LENS[action], self.speed)
        if action in _PRESETS:
            assert self.preset is not None  # checked by the validator
            return PtzCommand.preset(_PRESETS[action], self.preset)
        return PtzCommand.fi_stop() if action is _A.LENS_STOP else PtzCommand.stop()

"""Per-user console preferences and the console's own settings, as the API takes and shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sightline.api.schemas.common import GB_ID_PATTERN

__all__ = ["PreferencesIn", "PreferencesOut", "UiConfigOut", "WallLayout"]

TileChannel = Annotated[str | None, Field(pattern=GB_ID_PATTERN)]


class WallLayout(BaseModel):
    """The video wall: ``splits`` tiles, ``tiles[i]`` the channel in tile ``i`` (or null)."""

    model_config = ConfigDict(extra="forbid")

    splits: Literal[1, 4, 9, 16] = 4
    tiles: list[TileChannel] = Field(default_factory=list, max_length=16)

    @model_validator(mode="after")
    def _fits(self) -> Self:
        if len(self.tiles) > self.splits:
            raise ValueError(f"{len(self.tiles)} tiles given for a {self.splits}-split wall")
        return self


class PreferencesIn(BaseModel):
    """What ``PUT /api/v1/me/preferences`` stores (it replaces the whole document)."""

    model_config = ConfigDict(extra="forbid")

    wall: WallLayout = Field(default_factory=WallLayout)


class PreferencesOut(PreferencesIn):
    """The saved preferences; ``updated_at`` is null when they were never saved."""

    updated_at: datetime | None = None


class UiConfigOut(BaseModel):
    """Deployment settings the console needs (``web`` section of the configuration)."""

    map_tile_url: str = Field(description="tile URL template; empty: draw a plain grid")
    map_attribution: str
    map_max_zoom: int

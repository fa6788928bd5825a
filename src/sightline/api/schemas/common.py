"""Shapes shared by every router: errors, pages and the ID patterns."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel

__all__ = ["AREA_CODE_PATTERN", "GB_ID_PATTERN", "MAX_LIMIT", "MAX_OFFSET", "ErrorOut", "PageOut"]

# [0-9], not \d: the pattern engine's \d also matches non-ASCII digits such as "５".
GB_ID_PATTERN = r"^[0-9]{20}$"
AREA_CODE_PATTERN = r"^[0-9]{2,8}$"
MAX_LIMIT = 1000
MAX_OFFSET = 10_000_000

T = TypeVar("T")


class ErrorOut(BaseModel):
    """Every error answer: one human-readable sentence."""

    detail: str


class PageOut(BaseModel, Generic[T]):
    """One page of a list; ``total`` counts the whole list under the same filters."""

    items: list[T]
    total: int
    limit: int
    offset: int

"""Administrative-division codes (行政区划, GB/T 2260 plus a 2-digit grassroots level).

A code is 2 (province), 4 (city), 6 (county/district) or 8 (township/grassroots) digits; each level
adds two digits to its parent's code. Catalogs and IDs also write padded forms where unused trailing
levels are ``00`` (``34020000`` = city ``3402``); :func:`canonical` strips that padding.

Names are not bundled: they come from the area items of the catalogs devices and platforms send.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import IntEnum

from sightline.gb28181.errors import InvalidCivilCode
from sightline.gb28181.ids import is_area_code

__all__ = [
    "CivilLevel",
    "RegionNode",
    "RegionTree",
    "ancestors",
    "build_region_tree",
    "canonical",
    "is_civil_code",
    "level",
    "parent_code",
]


class CivilLevel(IntEnum):
    """Levels by code length."""

    PROVINCE = 2
    CITY = 4
    COUNTY = 6
    TOWNSHIP = 8


def is_civil_code(code: str) -> bool:
    """Whether ``code`` is a well-formed 2/4/6/8-digit code (padding included).

    ``00`` means "this level is unused", so once a level is ``00`` every later one must be too:
    ``340200`` is a padded city, ``340002`` is malformed.
    """
    if not is_area_code(code):
        return False
    levels = [code[i : i + 2] for i in range(0, len(code), 2)]
    first_unused = levels.index("00") if "00" in levels else len(levels)
    return first_unused > 0 and all(part == "00" for part in levels[first_unused:])


def canonical(code: str) -> str:
    """Strip trailing ``00`` levels: ``"340200" -> "3402"``; raises InvalidCivilCode."""
    text = code.strip()
    if not is_civil_code(text):
        raise InvalidCivilCode(f"not a 2/4/6/8-digit civil code with 00 only as padding: {code!r}")
    while len(text) > 2 and text.endswith("00"):
        text = text[:-2]
    return text


def level(code: str) -> CivilLevel:
    """The level of a code after stripping padding: ``level("340202") is CivilLevel.COUNTY``."""
    return CivilLevel(len(canonical(code)))


def parent_code(code: str) -> str | None:
    """The enclosing area's code (``"340202" -> "3402"``), None for a province."""
    text = canonical(code)
    return text[:-2] if len(text) > 2 else None


def ancestors(code: str) -> tuple[str, ...]:
    """Enclosing areas, province first: ``ancestors("34020201") == ("34", "3402", "340202")``."""
    text = canonical(code)
    return tuple(text[:n] for n in range(2, len(text), 2))


@dataclass(frozen=True)
class RegionNode:
    """One area in a :class:`RegionTree`.

    ``explicit`` is False for areas that were only implied as an ancestor of another code.
    ``channels`` are the IDs of the channels whose civil code is exactly this area.
    """

    code: str
    level: CivilLevel
    explicit: bool
    children: tuple[RegionNode, ...] = ()
    channels: tuple[str, ...] = ()


@dataclass(frozen=True)
class RegionTree:
    """A forest of provinces; ``unplaced`` lists channels whose civil code was unusable."""

    roots: tuple[RegionNode, ...]
    unplaced: tuple[str, ...] = ()
    _index: Mapping[str, RegionNode] = field(default_factory=dict, repr=False, compare=False)

    def find(self, code: str) -> RegionNode | None:
        """The node for ``code`` (padding ignored), or None."""
        try:
            return self._index.get(canonical(code))
        except InvalidCivilCode:
            return None

    def walk(self) -> Iterator[RegionNode]:
        """Every node, depth first, parents before children, codes in ascending order."""
        stack = list(reversed(self.roots))
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))


def build_region_tree(
    codes: Iterable[str], channels: Mapping[str, str | None] | None = None
) -> RegionTree:
    """Build the area tree from area codes and ``{channel_id: civil_code}``.

    Missing ancestors are added as implicit nodes. Channel civil codes also create their area (and
    its ancestors); channels whose code is missing or malformed (devices send placeholders such as
    ``"CivilCode"``) are reported in ``unplaced`` instead of failing the whole tree. Invalid area
    codes raise InvalidCivilCode, since they come from our own directory rather than a device.
    """
    explicit = {canonical(code) for code in codes}
    by_area: dict[str, list[str]] = {}
    unplaced: list[str] = []
    for channel_id, civil in (channels or {}).items():
        try:
            area = canonical(civil or "")
        except InvalidCivilCode:
            unplaced.append(channel_id)
            continue
        by_area.setdefault(area, []).append(channel_id)
    every = set(explicit) | set(by_area)
    for code in list(every):
        every.update(ancestors(code))
    children_of: dict[str, list[str]] = {}
    for code in every:
        if len(code) > 2:
            children_of.setdefault(code[:-2], []).append(code)
    index: dict[str, RegionNode] = {}
    # Deepest first, so every child node exists before its parent is built.
    for code in sorted(every, key=lambda c: (-len(c), c)):
        kids = tuple(index[c] for c in sorted(children_of.get(code, ())))
        index[code] = RegionNode(
            code=code,
            level=CivilLevel(len(code)),
            explicit=code in explicit,
            children=kids,
            channels=tuple(sorted(by_area.get(code, ()))),
        )
    roots = tuple(index[c] for c in sorted(every) if len(c) == 2)
    return RegionTree(roots=roots, unplaced=tuple(sorted(unplaced)), _index=index)

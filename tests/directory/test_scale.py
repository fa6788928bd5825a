"""A 10,000-channel catalog: import time and the region tree over it (times are printed)."""

from __future__ import annotations

import functools
import time
from datetime import UTC, datetime

from sightline.directory import DirectoryService
from sightline.gb28181.manscdp import CatalogItem, CatalogResponse, decode, encode
from sightline.store import Database
from tests.store.conftest import add_devices, make_device

PLATFORM = "34020000002000000001"
CHANNELS = 10_000
COUNTIES = ("340202", "340203", "340207", "340208", "340221")


@functools.cache
def _catalog() -> tuple[CatalogItem, ...]:
    """Areas (5 counties x 10 townships, unnamed city and province) and 10,000 cameras."""
    areas = [CatalogItem(device_id=c, name=f"county {c}") for c in COUNTIES]
    towns = [f"{c}{t:02d}" for c in COUNTIES for t in range(1, 11)]
    areas += [CatalogItem(device_id=t, name=f"town {t}") for t in towns]
    cameras = [
        CatalogItem(
            device_id=f"3402000000132{n:07d}",
            name=f"camera {n}",
            manufacturer="sim",
            civil_code=towns[n % len(towns)],
            parent_id=PLATFORM,
            status="ON" if n % 10 else "OFF",
            longitude=118.0 + n / 100_000,
            latitude=31.0,
            ptz_type=1,
        )
        for n in range(CHANNELS)
    ]
    # Through the codec in messages of 100 items, as a lower platform's answer arrives.
    everything = [*areas, *cameras]
    items: list[CatalogItem] = []
    for first in range(0, len(everything), 100):
        chunk = tuple(everything[first : first + 100])
        body = encode(
            CatalogResponse(sn=1, device_id=PLATFORM, sum_num=len(everything), items=chunk),
            "GB2312",
        )
        message = decode(body)
        assert isinstance(message, CatalogResponse)
        items.extend(message.items)
    return tuple(items)


async def test_ten_thousand_channels(db: Database, backend: str) -> None:
    items = _catalog()
    await add_devices(db, make_device(PLATFORM))
    directory = DirectoryService(db, online=lambda _d: True, wall_clock=lambda: datetime.now(UTC))

    start = time.perf_counter()
    assert await directory.import_catalog(PLATFORM, items, complete=True) == CHANNELS
    imported = time.perf_counter() - start
    start = time.perf_counter()
    assert await directory.import_catalog(PLATFORM, items[:-1], complete=True) == CHANNELS - 1
    replaced = time.perf_counter() - start
    start = time.perf_counter()
    forest = await directory.region_tree()
    tree = time.perf_counter() - start
    print(
        f"\n{backend}: import {CHANNELS} channels {imported:.2f} s, "
        f"re-import {replaced:.2f} s, region tree {tree:.2f} s"
    )

    (province,) = forest.roots
    assert province.code == "34" and province.total_channels == CHANNELS - 1
    (city,) = province.children
    assert [c.code for c in city.children] == list(COUNTIES)
    assert all(len(county.children) == 10 for county in city.children)
    assert sum(c.total_channels for c in city.children) == CHANNELS - 1
    offline = await directory.list_channels(online=False, region="340202", limit=1)
    assert offline.total == sum(1 for n in range(CHANNELS - 1) if n % 10 == 0 and n % 50 < 10)
    assert imported < 30 and tree < 10

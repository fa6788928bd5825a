"""Correlator: matching answers by (device, CmdType, SN) and reassembling split lists."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sightline.gb28181.correlator import Collect, Correlator, QueryKey
from sightline.gb28181.manscdp import (
    BasicParam,
    CatalogItem,
    CatalogResponse,
    ConfigDownloadResponse,
    DeviceInfoResponse,
    RecordInfoResponse,
    RecordItem,
    Result,
)

NVR = "34020000001180000001"
IDS = [f"340200000013100000{i:02d}" for i in range(1, 21)]


def key(cmd: str = "Catalog", sn: int = 7) -> QueryKey:
    return QueryKey(NVR, cmd, sn)


def part(ids: list[str], sum_num: int, sn: int = 7) -> CatalogResponse:
    items = tuple(CatalogItem(device_id=i, name=f"ch{i[-2:]}") for i in ids)
    return CatalogResponse(sn=sn, device_id=NVR, sum_num=sum_num, items=items)


def test_single_answer_completes_a_single_query() -> None:
    c = Correlator()
    c.expect(key("DeviceInfo"), 10.0)
    answer = DeviceInfoResponse(sn=7, device_id=NVR, result=Result.OK)
    outcome = c.feed(NVR, answer)
    assert outcome is not None and outcome.complete and outcome.messages == (answer,)
    assert len(c) == 0


def test_answers_are_matched_by_sender_command_and_sn() -> None:
    c = Correlator()
    c.expect(key("DeviceInfo"), 10.0)
    with pytest.raises(KeyError):
        c.feed(NVR, DeviceInfoResponse(sn=8, device_id=NVR, result=Result.OK))
    with pytest.raises(KeyError):
        c.feed(IDS[0], DeviceInfoResponse(sn=7, device_id=NVR, result=Result.OK))
    with pytest.raises(KeyError):
        c.feed(NVR, part([], 0))  # same SN, other command
    assert key("DeviceInfo") in c


def test_catalog_in_three_parts_out_of_order_with_a_duplicate() -> None:
    c = Correlator()
    c.expect(key(), 30.0, Collect.LIST)
    assert c.feed(NVR, part(IDS[3:6], 7)) is None
    assert c.feed(NVR, part(IDS[3:6], 7)) is None  # resent part
    assert c.feed(NVR, part(IDS[6:7], 7)) is None
    outcome = c.feed(NVR, part(IDS[0:3], 7))
    assert outcome is not None and outcome.complete
    assert sorted(i.device_id for i in outcome.items) == IDS[:7]  # type: ignore[attr-defined]
    assert len(outcome.messages) == 4


def test_inconsistent_sum_num_uses_the_largest() -> None:
    # a device that writes the total in some parts and a per-part count in others
    c2 = Correlator()
    c2.expect(key(), 30.0, Collect.LIST)
    assert c2.feed(NVR, part(IDS[0:3], 5)) is None
    assert c2.feed(NVR, part(IDS[3:4], 1)) is None  # a smaller SumNum does not shrink it
    done = c2.feed(NVR, part(IDS[4:5], 5))
    assert done is not None and len(done.items) == 5


def test_empty_result_completes_at_once() -> None:
    c = Correlator()
    c.expect(key(), 30.0, Collect.LIST)
    outcome = c.feed(NVR, part([], 0))
    assert outcome is not None and outcome.complete and outcome.items == ()


def test_deadline_completes_with_what_arrived_flagged_partial() -> None:
    c = Correlator()
    c.expect(key(), 30.0, Collect.LIST)
    c.feed(NVR, part(IDS[0:3], 7))
    assert c.next_deadline() == 30.0
    assert c.handle_timeout(29.9) == []
    [outcome] = c.handle_timeout(30.0)
    assert not outcome.complete and not outcome.timed_out
    assert len(outcome.items) == 3
    assert c.next_deadline() is None
    with pytest.raises(KeyError):
        c.feed(NVR, part(IDS[3:7], 7))  # a late part is no longer this query's


def test_nothing_arrived_is_a_timeout() -> None:
    c = Correlator()
    c.expect(key("DeviceInfo"), 1.0)
    [outcome] = c.handle_timeout(5.0)
    assert outcome.timed_out


def test_count_waits_for_one_answer_per_config_type() -> None:
    c = Correlator()
    c.expect(key("ConfigDownload"), 10.0, Collect.COUNT, count=2)
    first = ConfigDownloadResponse(
        sn=7, device_id=NVR, result=Result.OK, basic_param=BasicParam(name="x")
    )
    assert c.feed(NVR, first) is None
    outcome = c.feed(NVR, ConfigDownloadResponse(sn=7, device_id=NVR, result=Result.OK))
    assert outcome is not None and len(outcome.messages) == 2


def test_record_items_deduplicated_by_value() -> None:
    c = Correlator()
    c.expect(key("RecordInfo"), 10.0, Collect.LIST)
    rec = RecordItem(device_id=IDS[0], start_time=datetime(2024, 5, 1, 8), name="r")
    other = RecordItem(device_id=IDS[0], start_time=datetime(2024, 5, 1, 9), name="r")
    message = RecordInfoResponse(sn=7, device_id=IDS[0], sum_num=2, items=(rec, rec))
    assert c.feed(NVR, message) is None
    done = c.feed(NVR, RecordInfoResponse(sn=7, device_id=IDS[0], sum_num=2, items=(other,)))
    assert done is not None and list(done.items) == [rec, other]


def test_cancel_and_reuse_of_a_key() -> None:
    c = Correlator()
    c.expect(key(), 5.0, Collect.LIST)
    with pytest.raises(ValueError):
        c.expect(key(), 5.0)
    c.feed(NVR, part(IDS[:1], 3))
    cancelled = c.cancel(key())
    assert cancelled is not None and len(cancelled.items) == 1
    assert c.cancel(key()) is None
    c.expect(key(), 50.0, Collect.LIST)  # the old deadline must not end the new query
    assert c.handle_timeout(5.0) == []
    assert c.next_deadline() == 50.0


@given(
    st.permutations(list(range(6))),
    st.lists(st.integers(min_value=0, max_value=5), max_size=4),
)
def test_any_order_with_duplicates_reassembles_everything(
    order: list[int], repeats: list[int]
) -> None:
    chunks = [IDS[i * 2 : i * 2 + 2] for i in range(6)]
    c = Correlator()
    c.expect(key(), 30.0, Collect.LIST)
    outcome = None
    sent: set[int] = set()
    for index in [*repeats, *order]:
        outcome = c.feed(NVR, part(chunks[index], 12))
        sent.add(index)
        assert (outcome is not None) == (len(sent) == 6)  # complete exactly at the last new part
        if outcome is not None:
            break
    assert outcome is not None and outcome.complete
    assert sorted(i.device_id for i in outcome.items) == IDS[:12]  # type: ignore[attr-defined]

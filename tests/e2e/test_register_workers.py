"""``sightline serve`` with REGISTER worker processes (``sip.register_workers``).

The devices are real SIP stacks on their own UDP ports (SIPp with a socket per call, and the
test device peer), so the kernel spreads them over the main process and the workers: every
REGISTER must be answered and counted, every other request and every response to the
platform's own requests must reach the main process, and a ban must hold in every process.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from sightline.gb28181.manscdp import (
    CatalogQuery,
    CatalogResponse,
    DeviceInfoQuery,
    DeviceInfoResponse,
    Message,
    Result,
)
from sightline.sip.transport import Peer
from tests.e2e.server import SightlineProcess, StartServer
from tests.e2e.sipp import run_sipp, write_injection
from tests.e2e.test_sipp_register import LOAD_ENV, device_ids, metric, register
from tests.gb28181.device_peer import DevicePeer, Received

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("sipp_binary")]

WORKERS = 2


def _children(pid: int) -> list[int]:
    """PIDs of the direct children of ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid:
                found.append(int(entry.name))
    return found


def _cpu_ticks(pid: int) -> int:
    stat = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    return int(stat[11]) + int(stat[12])


def _workers(server: SightlineProcess) -> list[int]:
    pids = [
        pid
        for pid in _children(server.pid)
        if b"register_worker" in (Path("/proc") / str(pid) / "cmdline").read_bytes()
    ]
    assert len(pids) == WORKERS
    return pids


def _wait_metric(
    server: SightlineProcess, name: str, value: float, *, exact: bool = True, **labels: str
) -> None:
    # workers report their counters once a second
    deadline = time.monotonic() + 10
    while metric(server.metrics(), name, **labels) < value and time.monotonic() < deadline:
        time.sleep(0.2)
    got = metric(server.metrics(), name, **labels)
    assert got == value if exact else got >= value


def test_sipp_devices_on_their_own_ports_all_register_through_every_process(
    sightline_server: StartServer, tmp_path: Path
) -> None:
    server = sightline_server(env={**LOAD_ENV, "SIGHTLINE_SIP__REGISTER_WORKERS": str(WORKERS)})
    workers = _workers(server)
    before = [_cpu_ticks(pid) for pid in workers]
    ids = device_ids(300)
    result = register(server, tmp_path, ids, transport="un")
    assert (result.successful, result.failed) == (300, 0)
    _wait_metric(server, "sightline_sip_auth_successes_total", 300)
    # every process's counters, summed: 600 REGISTERs, plus SIPp's retransmissions when the
    # machine is loaded (answered from the retired transaction, and counted)
    _wait_metric(server, "sightline_sip_requests_total", 600, exact=False, method="REGISTER")
    assert metric(server.metrics(), "sightline_sip_requests_total", method="REGISTER") <= 660
    assert metric(server.metrics(), "sightline_sip_responses_sent_total", **{"class": "2xx"}) >= 300
    # each worker did a share of the work (300 devices over 3 sockets)
    assert all(_cpu_ticks(pid) > ticks for pid, ticks in zip(workers, before, strict=True))
    server.stop()
    assert all(not Path(f"/proc/{pid}").exists() for pid in workers)


def _answers(device_id: str) -> Callable[[Message], list[Message]]:
    def answer(msg: Message) -> list[Message]:
        if isinstance(msg, DeviceInfoQuery):
            return [
                DeviceInfoResponse(
                    sn=msg.sn,
                    device_id=device_id,
                    device_name="cam",
                    result=Result.OK,
                    manufacturer="Test",
                    model="T1",
                    firmware="1",
                    channel=0,
                )
            ]
        if isinstance(msg, CatalogQuery):
            return [CatalogResponse(sn=msg.sn, device_id=device_id, sum_num=0, items=())]
        return []

    return answer


async def _device_lifecycle(server: SightlineProcess, device_id: str) -> DevicePeer:
    device = DevicePeer(
        device_id,
        server.password,
        Peer("UDP", *server.sip_target),
        answer=_answers(device_id),
    )
    await device.start()
    assert (await device.register()).status == 200
    # a keepalive is a MESSAGE: whichever process gets it, the main process answers it
    assert (await device.keepalive()).status == 200
    # the platform's DeviceInfo query, answered (200, then the device's MESSAGE), and only
    # then the Catalog query: both directions reached the main process
    await device.wait_for(_is_query(CatalogQuery), timeout_s=10)
    return device


def _is_query(kind: type) -> Callable[[Received], bool]:
    return lambda item: isinstance(item.message, kind)


def test_requests_and_answers_of_registered_devices_reach_the_main_process(
    sightline_server: StartServer,
) -> None:
    server = sightline_server(env={**LOAD_ENV, "SIGHTLINE_SIP__REGISTER_WORKERS": str(WORKERS)})
    ids = device_ids(12, first=500)

    async def run() -> list[list[Received]]:
        devices = await asyncio.gather(*(_device_lifecycle(server, i) for i in ids))
        try:
            return [d.received for d in devices]
        finally:
            await asyncio.gather(*(d.close() for d in devices))

    received = asyncio.run(run())
    assert all(any(isinstance(r.message, DeviceInfoQuery) for r in got) for got in received)
    _wait_metric(server, "sightline_sip_auth_successes_total", 12)
    assert metric(server.metrics(), "sightline_sip_requests_total", method="MESSAGE") >= 24


def test_a_ban_holds_in_every_process(sightline_server: StartServer, tmp_path: Path) -> None:
    server = sightline_server(
        env={
            **LOAD_ENV,
            "SIGHTLINE_SIP__BAN_AFTER_FAILURES": "5",
            "SIGHTLINE_SIP__REGISTER_WORKERS": str(WORKERS),
        }
    )
    wrong = register(
        server,
        tmp_path,
        device_ids(20, first=900),
        scenario="register_wrong_password.xml",
        transport="un",
        password="not-the-password",
    )
    assert wrong.successful + wrong.failed == 20
    _wait_metric(server, "sightline_sip_bans_total", 1)
    # banned: devices on new ports, whichever process their port hashes to, get nothing
    work = tmp_path / "sipp-banned"
    work.mkdir()
    right = run_sipp(
        "register.xml",
        server.sip_target,
        injection=write_injection(work / "devices.csv", device_ids(8, first=950), server.password),
        workdir=work,
        calls=8,
        transport="un",
        rate=200,
        timeout_s=10,
        recv_timeout_ms=1200,
        extra_args=["-max_retrans", "1"],
    )
    assert (right.successful, right.failed) == (0, 8), right.describe()
    _wait_metric(server, "sightline_sip_bans_total", 1)
    assert metric(server.metrics(), "sightline_sip_dropped_banned_total") >= 8


def test_the_others_take_over_when_a_worker_dies(
    sightline_server: StartServer, tmp_path: Path
) -> None:
    server = sightline_server(env={**LOAD_ENV, "SIGHTLINE_SIP__REGISTER_WORKERS": str(WORKERS)})
    dead, alive = _workers(server)
    os.kill(dead, signal.SIGKILL)
    deadline = time.monotonic() + 10
    gone = "REGISTER worker 1 went away; the others take its devices"
    while gone not in server.log() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert gone in server.log()
    result = register(server, tmp_path, device_ids(100, first=2000), transport="un")
    assert (result.successful, result.failed) == (100, 0)
    _wait_metric(server, "sightline_sip_auth_successes_total", 100)
    assert Path(f"/proc/{alive}").exists()
    # ... and the main process starts it again, with a new process in its place
    back = "REGISTER worker 1 started again"
    while back not in server.log() and time.monotonic() < deadline + 20:
        time.sleep(0.1)
    assert back in server.log()
    workers = _workers(server)
    assert len(workers) == WORKERS and dead not in workers and alive in workers
    again = register(server, tmp_path, device_ids(100, first=3000), transport="un")
    assert (again.successful, again.failed) == (100, 0)
    _wait_metric(server, "sightline_sip_auth_successes_total", 200)

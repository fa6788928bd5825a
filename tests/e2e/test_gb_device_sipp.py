"""SIPp plays a whole GB/T 28181 device against ``sightline serve``; the REST API shows the result.

The device (``scenarios/gb_device.xml``) registers with digest auth and sends a Keepalive
MESSAGE every second for a while, then falls silent. Everything the platform asks of it arrives
with Call-IDs SIPp has not seen, so SIPp runs ``scenarios/gb_device_answers.xml`` for each of
those requests: it answers the DeviceInfo query, the Catalog query (five channels in three
Response MESSAGEs, GB2312 with Chinese names) and the SUBSCRIBEs.

The test then checks what an operator sees: the device online with the manufacturer and channel
count from DeviceInfo, its channels with their names decoded from GB2312, and the device offline
a few seconds after its last keepalive (interval 1 s, three missed).
"""

from __future__ import annotations

import re
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.api_client import ADMIN_PASSWORD, ApiClient
from tests.e2e.server import SightlineProcess, StartServer
from tests.e2e.sipp import SCENARIOS, SippResult, received_messages, run_sipp

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("sipp_binary")]

DEVICE_ID = "34020000001180000007"  # an NVR (type 118) in domain 3402000000
KEEPALIVES = 8  # one a second: the device stays up ~8 s, long enough to look at it
ENV = {
    "SIGHTLINE_ADMIN__PASSWORD": ADMIN_PASSWORD,
    "SIGHTLINE_GB28181__KEEPALIVE_INTERVAL_S": "1",
    "SIGHTLINE_GB28181__KEEPALIVE_TIMEOUT_COUNT": "3",
}
# Channel IDs the answers scenario builds: center code, type 131, the device's last six digits,
# channel number. Names, catalog Status and (for the last) coordinates as in the scenario.
CHANNELS = {
    "34020000001310000071": ("大门入口", True),
    "34020000001310000072": ("停车场东侧", True),
    "34020000001310000073": ("一号楼大厅", True),
    "34020000001310000074": ("仓库后门", False),
    "34020000001310000075": ("周界球机", True),
}
# SIPp's message log separates messages with a dashed line and a time stamp.
_SENT = re.compile(rb"^-{10,} [\d\-: .]+\r?\n\w+ message sent", re.MULTILINE)


def run_device(server: SightlineProcess, workdir: Path, transport: str) -> SippResult:
    """Run the device scenario once (one call) with the answers scenario for the platform."""
    injection = workdir / "device.csv"
    workdir.mkdir(parents=True, exist_ok=True)
    auth = f"[authentication username={DEVICE_ID} password={server.password}]"
    injection.write_text(f"SEQUENTIAL\n{DEVICE_ID};{auth};{server.domain};{KEEPALIVES};\n")
    return run_sipp(
        "gb_device.xml",
        server.sip_target,
        injection=injection,
        workdir=workdir,
        calls=1,
        transport=transport,
        timeout_s=KEEPALIVES + 20,
        recv_timeout_ms=5000,
        trace_messages=True,
        extra_args=["-oocsf", str(SCENARIOS / "gb_device_answers.xml")],
    )


def device_view(api: ApiClient) -> dict[str, Any] | None:
    """The device as ``GET /api/v1/devices`` lists it (None until it is known)."""
    page = api.page("/api/v1/devices")
    return next((d for d in page.items if d["id"] == DEVICE_ID), None)


def onboarded(device: dict[str, Any] | None) -> bool:
    """Online with the DeviceInfo answer stored."""
    return device is not None and device["online"] and device["manufacturer"] != ""


def sent_bytes(result: SippResult) -> bytes:
    """Everything SIPp sent, as raw bytes (its message log, not decoded)."""
    log = (result.workdir / "messages.log").read_bytes()
    return b"".join(
        chunk for chunk in re.split(rb"(?=^-{10,} )", log, flags=re.MULTILINE) if _SENT.match(chunk)
    )


@pytest.mark.parametrize("transport", ["u1", "t1"])
def test_sipp_device_registers_answers_and_times_out(
    sightline_server: StartServer, tmp_path: Path, transport: str
) -> None:
    server = sightline_server(env=ENV)
    api = ApiClient(server.http_url)
    with ThreadPoolExecutor(1) as pool:
        running: Future[SippResult] = pool.submit(
            run_device, server, tmp_path / f"sipp-{transport}", transport
        )
        device, waited = api.wait_for(device_view, onboarded, timeout_s=KEEPALIVES - 3)
        assert onboarded(device), f"not onboarded after {waited:.1f}s: {device}"
        channels = api.wait_for(
            lambda a: a.page("/api/v1/channels", device=DEVICE_ID),
            lambda p: p.total == len(CHANNELS),
            timeout_s=2,
        )[0]
        online_while_alive = device_view(api)
        result = running.result()
    silent_since = time.monotonic()  # SIPp has exited: no keepalive after this

    assert result.exit_code == 0, result.describe()
    assert (result.successful, result.failed) == (1, 0), result.describe()
    assert device is not None
    assert device["manufacturer"] == "海康威视"
    assert device["name"] == "西门录像机"
    assert device["model"] == "DS-7808N-K1"
    assert device["firmware"] == "V4.1.64"
    assert device["channel_count"] == len(CHANNELS)
    assert device["transport"] == ("UDP" if transport == "u1" else "TCP")
    assert online_while_alive is not None and online_while_alive["online"]

    assert channels.total == len(CHANNELS)
    assert {c["id"]: (c["name"], c["online"]) for c in channels.items} == CHANNELS
    for channel in channels.items:
        assert channel["device_id"] == DEVICE_ID
        assert channel["parent_id"] == DEVICE_ID
        assert channel["address"] == "芜湖市镜湖区北京路"
    last = next(c for c in channels.items if c["id"].endswith("75"))
    assert (last["longitude"], last["latitude"]) == (118.3762, 31.3264)

    # The names reached the server as GB2312 bytes, not UTF-8: SIPp passed the file's bytes on.
    wire = sent_bytes(result)
    for name, _ in CHANNELS.values():
        assert wire.count(f"<Name>{name}</Name>".encode("gb2312")) == 1, name
        assert name.encode("utf-8") not in wire
    check_platform_requests(result)

    device, waited = api.wait_for(
        device_view, lambda d: d is not None and not d["online"], timeout_s=8
    )
    offline_after = time.monotonic() - silent_since
    assert device is not None and not device["online"], f"still online after {waited:.1f}s"
    # Last keepalive ~1 s before SIPp exits; offline after 3 x 1 s without one.
    assert offline_after < 5.0
    # The online filter reads the stored flag, written behind within store_flush_interval_s.
    offline_list = api.wait_for(
        lambda a: a.page("/api/v1/devices", online=False), lambda p: p.total == 1, timeout_s=5
    )[0]
    assert [d["id"] for d in offline_list.items] == [DEVICE_ID]
    assert api.page("/api/v1/devices", online=True).total == 0
    assert f"device {DEVICE_ID} offline (keepalive-timeout)" in server.log()
    api.close()


def check_platform_requests(result: SippResult) -> None:
    """What the platform sent: DeviceInfo then Catalog queries, catalog and alarm SUBSCRIBEs."""
    queries = received_messages(result, f"MESSAGE sip:{DEVICE_ID}@")
    commands = [re.search(r"<CmdType>(\w+)</CmdType>", q) for q in queries]
    assert [m.group(1) for m in commands if m] == ["DeviceInfo", "Catalog"]
    subscribes = received_messages(result, f"SUBSCRIBE sip:{DEVICE_ID}@")
    events = sorted(_header(s, "Event").split(";")[0] for s in subscribes)
    assert events == ["Catalog", "presence"]  # presence: the alarm subscription (§9.7)
    for subscribe in subscribes:
        assert "<CmdType>" in subscribe and int(_header(subscribe, "Expires")) > 0
    # Every Response MESSAGE of the device (1 DeviceInfo + 3 Catalog) got a 200.
    answered = [
        ok
        for ok in received_messages(result, "SIP/2.0 200")
        if re.search(r"^Call-ID: [ic]\d?///", ok, re.M)
    ]
    assert len(answered) == 4


def _header(message: str, name: str) -> str:
    match = re.search(rf"^{name}: *(.*)$", message, re.MULTILINE)
    assert match is not None, f"no {name} in\n{message}"
    return match.group(1).strip()

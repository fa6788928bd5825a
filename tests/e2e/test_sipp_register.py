"""GB/T 28181 registration against a real ``sightline serve``, driven by SIPp as the device.

SIPp is an independent SIP implementation, so these tests check the wire behaviour (digest
challenge, 200 OK headers, 403 on a wrong password, OPTIONS, unregister, bans) and the
Prometheus counters, over UDP and TCP.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.server import SightlineProcess, StartServer
from tests.e2e.sipp import SippResult, received_messages, run_sipp, write_injection

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("sipp_binary")]

DEVICES = 20
# Plenty of headroom: every SIPp call comes from 127.0.0.1, one source for the flood policy.
LOAD_ENV = {
    "SIGHTLINE_SIP__RATE_PER_SOURCE": "100000",
    "SIGHTLINE_SIP__RATE_BURST": "100000",
    "SIGHTLINE_SIP__BAN_AFTER_FAILURES": "1000",
}
# §9.10.3: the Date of a REGISTER 200 OK is local time with milliseconds and no zone.
GB_DATE = re.compile(r"^Date: \d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}$", re.MULTILINE)


def device_ids(count: int, first: int = 1) -> list[str]:
    """Distinct 20-digit IPC IDs in domain 3402000000 (type code 132)."""
    return [f"34020000001320{n:06d}" for n in range(first, first + count)]


def metric(samples: dict[str, float], name: str, **labels: str) -> float:
    """One sample of ``/metrics``, 0 when absent (counters not yet incremented)."""
    if labels:
        inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        name = f"{name}{{{inner}}}"
    return samples.get(name, 0.0)


def register(
    server: SightlineProcess,
    tmp_path: Path,
    ids: list[str],
    *,
    scenario: str = "register.xml",
    transport: str = "u1",
    password: str | None = None,
    trace_messages: bool = False,
) -> SippResult:
    """Run one SIPp call per device ID against the server."""
    work = tmp_path / f"sipp-{scenario.removesuffix('.xml')}-{transport}"
    work.mkdir(exist_ok=True)
    injection = write_injection(
        work / "devices.csv", ids, server.password if password is None else password
    )
    return run_sipp(
        scenario,
        server.sip_target,
        injection=injection,
        workdir=work,
        calls=len(ids),
        transport=transport,
        rate=200,
        timeout_s=20,
        recv_timeout_ms=3000,
        trace_messages=trace_messages,
    )


@pytest.mark.parametrize("transport", ["u1", "un", "t1", "tn"])
def test_devices_register_with_digest(
    sightline_server: StartServer, tmp_path: Path, transport: str
) -> None:
    server = sightline_server(env=LOAD_ENV)
    ids = device_ids(DEVICES)

    result = register(server, tmp_path, ids, transport=transport, trace_messages=True)

    assert result.exit_code == 0, result.describe()
    assert (result.successful, result.failed) == (DEVICES, 0), result.describe()
    challenges = received_messages(result, "SIP/2.0 401")
    assert len(challenges) == DEVICES
    for challenge in challenges:
        header = next(h for h in challenge.splitlines() if h.startswith("WWW-Authenticate:"))
        assert 'Digest realm="3402000000"' in header
        assert re.search(r'nonce="[^"]+"', header)
        assert "algorithm=MD5" in header
    accepted = received_messages(result, "SIP/2.0 200")
    assert len(accepted) == DEVICES
    for ok in accepted:
        assert GB_DATE.search(ok), ok
        assert re.search(r"^Expires: 3600$", ok, re.MULTILINE), ok
        assert re.search(r"^Contact: <sip:34020000001320\d{6}@127\.0\.0\.1:\d+>", ok, re.M), ok
    samples = server.metrics()
    assert metric(samples, "sightline_sip_requests_total", method="REGISTER") == 2 * DEVICES
    assert metric(samples, "sightline_sip_responses_sent_total", **{"class": "4xx"}) == DEVICES
    assert metric(samples, "sightline_sip_responses_sent_total", **{"class": "2xx"}) == DEVICES
    assert metric(samples, "sightline_sip_auth_successes_total") == DEVICES
    assert metric(samples, "sightline_sip_auth_failures_total") == 0
    # the process's own health: loop lag, GC pauses and CPU/memory exposed
    assert "sightline_event_loop_lag_seconds_count" in samples
    assert metric(samples, "sightline_event_loop_lag_max_seconds") < 5
    assert metric(samples, "process_resident_memory_bytes") > 0
    assert 'sightline_gc_pause_seconds_count{generation="2"}' in samples


def test_wrong_password_is_refused_with_403(sightline_server: StartServer, tmp_path: Path) -> None:
    server = sightline_server(env=LOAD_ENV)
    ids = device_ids(5)

    result = register(
        server, tmp_path, ids, scenario="register_wrong_password.xml", password="not-the-password"
    )

    assert result.exit_code == 0, result.describe()
    assert (result.successful, result.failed) == (5, 0), result.describe()
    samples = server.metrics()
    assert metric(samples, "sightline_sip_auth_failures_total") == 5
    assert metric(samples, "sightline_sip_auth_successes_total") == 0
    # 5 challenges (401) and 5 refusals (403); nothing accepted.
    assert metric(samples, "sightline_sip_responses_sent_total", **{"class": "4xx"}) == 10
    assert metric(samples, "sightline_sip_responses_sent_total", **{"class": "2xx"}) == 0
    assert "refused" in server.log()


def test_wrong_password_scenario_fails_when_accepted(
    sightline_server: StartServer, tmp_path: Path
) -> None:
    """The 403 scenario must fail on a 200, or the test above would prove nothing."""
    server = sightline_server(env=LOAD_ENV)

    result = register(server, tmp_path, device_ids(3), scenario="register_wrong_password.xml")

    assert result.exit_code == 1, result.describe()
    assert (result.successful, result.failed) == (0, 3), result.describe()
    assert metric(server.metrics(), "sightline_sip_auth_successes_total") == 3


@pytest.mark.parametrize("transport", ["u1", "t1"])
def test_options_is_answered_200(
    sightline_server: StartServer, tmp_path: Path, transport: str
) -> None:
    server = sightline_server(env=LOAD_ENV)

    result = register(server, tmp_path, device_ids(5), scenario="options.xml", transport=transport)

    assert result.exit_code == 0, result.describe()
    assert (result.successful, result.failed) == (5, 0), result.describe()
    samples = server.metrics()
    assert metric(samples, "sightline_sip_requests_total", method="OPTIONS") == 5
    assert metric(samples, "sightline_sip_responses_sent_total", **{"class": "2xx"}) == 5


def test_unregister_with_expires_zero(sightline_server: StartServer, tmp_path: Path) -> None:
    server = sightline_server(env=LOAD_ENV)
    ids = device_ids(5)
    registered = register(server, tmp_path, ids)
    assert registered.exit_code == 0, registered.describe()

    result = register(server, tmp_path, ids, scenario="unregister.xml", trace_messages=True)

    # unregister.xml fails the call unless the 200 OK carries Expires: 0.
    assert result.exit_code == 0, result.describe()
    assert (result.successful, result.failed) == (5, 0), result.describe()
    for ok in received_messages(result, "SIP/2.0 200"):
        assert "Contact:" not in ok
    assert metric(server.metrics(), "sightline_sip_auth_successes_total") == 10
    for device_id in ids:
        assert f"device {device_id} unregistered" in server.log()


def test_source_is_banned_after_repeated_failures(
    sightline_server: StartServer, tmp_path: Path
) -> None:
    server = sightline_server(
        env={**LOAD_ENV, "SIGHTLINE_SIP__BAN_AFTER_FAILURES": "3", "SIGHTLINE_SIP__BAN_S": "60"}
    )
    refused = register(
        server, tmp_path, device_ids(3), scenario="register_wrong_password.xml", password="bad"
    )
    assert refused.exit_code == 0, refused.describe()

    work = tmp_path / "sipp-banned"
    work.mkdir()
    injection = write_injection(work / "devices.csv", device_ids(1, first=100), server.password)
    # A correct password from the banned address now gets no answer at all.
    banned = run_sipp(
        "register.xml",
        server.sip_target,
        injection=injection,
        workdir=work,
        calls=1,
        timeout_s=10,
        recv_timeout_ms=1200,
        extra_args=["-max_retrans", "1"],
    )

    assert (banned.successful, banned.failed) == (0, 1), banned.describe()
    samples = server.metrics()
    assert metric(samples, "sightline_sip_bans_total") == 1
    assert metric(samples, "sightline_sip_dropped_banned_total") >= 1
    assert metric(samples, "sightline_sip_auth_successes_total") == 0

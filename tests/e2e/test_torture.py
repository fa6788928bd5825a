"""The public SIP torture suites against a running ``sightline serve``.

Every RFC 4475 message gets the answer this server must give (or none), over UDP and TCP; the
1,500 PROTOS c07-sip cases are answered or dropped; afterwards the server still answers
OPTIONS and its log holds no escaped exception (checked by the fixture at teardown).
"""

from __future__ import annotations

import pytest

from tests.e2e.server import StartServer
from tests.e2e.torture import CONFORMANCE, options_ping, run_protos, run_rfc4475
from tests.sip.rfc4475_table import RFC4475_EXPECTED, TortureCase

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not (CONFORMANCE / "rfc4475").is_dir(), reason=f"no conformance suites at {CONFORMANCE}"
    ),
]

# Everyone may send floods here: the suites come from one address at full speed.
_NO_LIMITS = {"SIGHTLINE_SIP__RATE_PER_SOURCE": "1000000", "SIGHTLINE_SIP__RATE_BURST": "1000000"}


def expected_statuses(name: str, case: TortureCase, *, tcp: bool) -> list[int]:
    """What this server answers to one RFC 4475 message (empty: nothing)."""
    if tcp and name == "clerr":
        return []  # Content-Length beyond the data: a stream waits for the rest of the body
    if tcp and name == "inv2543":
        return [400]  # no Content-Length: a stream cannot be framed (RFC 3261 §18.3)
    if tcp and name == "dblreq":
        return [400, 405]  # on a stream the trailing INVITE is a second message
    if case.drop or (case.method is None and case.parse_status is None):
        return []
    if case.parse_status is not None:
        return [case.parse_status]
    if case.app_status in (416, 420, 501):
        return [case.app_status]
    if case.method == "REGISTER":
        return [400]  # the GB/T 28181 registrar requires a 20-digit device ID in From
    if case.method == "OPTIONS":
        return [200]
    if case.method == "MESSAGE":
        return [404]  # from a device that is not registered: it must register first
    return [405]  # INVITE has no handler in this server yet


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_rfc4475_messages_get_the_right_answer(
    sightline_server: StartServer, transport: str
) -> None:
    server = sightline_server(env=_NO_LIMITS)
    tcp = transport == "tcp"
    got = run_rfc4475(
        "127.0.0.1",
        server.sip_port,
        tcp=tcp,
        expect=lambda name: len(set(expected_statuses(name, RFC4475_EXPECTED[name], tcp=tcp))),
    )
    assert set(got) == set(RFC4475_EXPECTED)
    wrong = {
        name: (statuses, expected_statuses(name, RFC4475_EXPECTED[name], tcp=tcp))
        for name, statuses in got.items()
        if statuses != expected_statuses(name, RFC4475_EXPECTED[name], tcp=tcp)
    }
    assert not wrong, f"(got, expected) per message: {wrong}"
    assert options_ping("127.0.0.1", server.sip_port, tcp=tcp) == 200
    metrics = server.metrics()
    assert metrics[f'sightline_sip_parse_errors_total{{transport="{transport.upper()}"}}'] >= 20


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_protos_c07_sip_cases_are_survived(sightline_server: StartServer, transport: str) -> None:
    server = sightline_server(env=_NO_LIMITS)
    tcp = transport == "tcp"
    report = run_protos("127.0.0.1", server.sip_port, tcp=tcp)
    assert report.sent + report.skipped_too_big == 3000
    if not tcp:
        # frames over 65,507 bytes once substituted (12 INVITEs and 6 of their CANCELs with
        # this substitution) cannot be UDP datagrams; they are sent over TCP
        assert report.skipped_too_big == 18
    # every test INVITE gets an answer unless it is too broken to answer: most do
    assert report.responses >= 1500
    assert set(report.statuses) <= {200, 400, 405, 413, 481, 505, 513}
    assert options_ping("127.0.0.1", server.sip_port, tcp=tcp) == 200
    assert options_ping("127.0.0.1", server.sip_port, tcp=not tcp) == 200

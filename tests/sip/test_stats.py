"""SIP counters handed between processes: take, add and the plain-data form."""

from __future__ import annotations

from sightline.sip.stats import SipStats


def _busy() -> SipStats:
    stats = SipStats()
    stats.count_request("REGISTER")
    stats.count_request("REGISTER")
    stats.count_request("FOO")
    stats.count_response(200, sent=True)
    stats.count_response(401, sent=True)
    stats.count_response(200, sent=False)
    stats.parse_errors["UDP"] += 1
    stats.auth_successes = 2
    stats.auth_failures = 1
    stats.dropped_banned = 3
    stats.tcp_connections = 7
    return stats


def test_take_moves_the_counts_and_restarts_at_zero() -> None:
    stats = _busy()
    taken = stats.take()
    assert taken.requests_by_method == {"REGISTER": 2, "OTHER": 1}
    assert taken.responses_sent_by_class == {"2xx": 1, "4xx": 1}
    assert taken.responses_by_class == {"2xx": 1}
    assert (taken.auth_successes, taken.auth_failures, taken.dropped_banned) == (2, 1, 3)
    assert stats.take() == SipStats()  # nothing new since
    assert stats.tcp_connections == 7  # a gauge is not moved
    stats.count_request("REGISTER")  # counting goes on in the same object
    assert stats.take().requests_by_method == {"REGISTER": 1}


def test_add_sums_what_another_process_took() -> None:
    main = _busy()
    main.add(SipStats.from_dict(_busy().take().to_dict()))
    assert main.requests_by_method == {"REGISTER": 4, "OTHER": 2}
    assert main.parse_errors == {"UDP": 2}
    assert (main.auth_successes, main.auth_failures, main.dropped_banned) == (4, 2, 6)
    assert main.tcp_connections == 7  # a gauge is the main process's own


def test_from_dict_ignores_what_it_does_not_know() -> None:
    stats = SipStats.from_dict(
        {
            "requests_by_method": {"REGISTER": 2, "BYE": -1, "X": "y"},
            "auth_successes": "many",
            "bans": -4,
            "unknown": 1,
            "parse_errors": [1],
        }
    )
    assert stats == SipStats(requests_by_method=stats.requests_by_method)
    assert stats.requests_by_method == {"REGISTER": 2}


def test_take_counts_moves_the_non_zero_counts_as_items() -> None:
    stats = _busy()
    counts = stats.take_counts()
    assert set(counts) == {
        ("requests_by_method", "REGISTER", 2),
        ("requests_by_method", "OTHER", 1),
        ("responses_by_class", "2xx", 1),
        ("responses_sent_by_class", "2xx", 1),
        ("responses_sent_by_class", "4xx", 1),
        ("parse_errors", "UDP", 1),
        ("auth_failures", "", 1),
        ("auth_successes", "", 2),
        ("dropped_banned", "", 3),
    }
    assert stats.take_counts() == [] and stats.tcp_connections == 7
    main = _busy()
    main.add_counts([*counts, ("unknown", "", 1), ("bans", "", -2), ("bans", "", 0)])
    expected = _busy()
    expected.add(_busy().take())
    assert main == expected

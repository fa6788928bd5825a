"""Benchmarks run by ``make bench``: each prints its figures beside a real peer's."""


def exit_cleanly_on_sigterm() -> None:
    """Turn SIGTERM and SIGHUP into ``SystemExit`` so ``finally`` blocks stop the children.

    Python's default for SIGTERM ends the process at once, leaving the servers, simulators
    and peers a benchmark started running on their ports.
    """
    import signal
    import sys

    def leave(signum: int, _frame: object) -> None:
        sys.exit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, leave)

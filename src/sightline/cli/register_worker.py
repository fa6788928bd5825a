"""Entry point of one REGISTER worker process (started by ``sightline serve``, not by hand).

``python -m sightline.cli.register_worker FD``: FD is the worker's end of a SOCK_SEQPACKET
pair whose first packet is its :class:`~sightline.gb28181.register_channel.WorkerConfig`.
See :mod:`sightline.gb28181.register_workers`.
"""

from __future__ import annotations

import asyncio
import gc
import socket
import sys

from sightline.gb28181.register_channel import MAX_PACKET, ChannelError, WorkerConfig, decode
from sightline.gb28181.register_worker_side import serve_worker
from sightline.logs import setup_logging

__all__ = ["main"]

_GC_THRESHOLDS = (10_000, 10, 10)  # the main process's node.GC_THRESHOLDS


def main(argv: list[str] | None = None) -> int:
    """Read the configuration from the channel, then serve until the main process stops."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not args[0].isdigit():
        print("usage: python -m sightline.cli.register_worker FD", file=sys.stderr)
        return 2
    sock = socket.socket(fileno=int(args[0]))
    try:
        config = decode(sock.recv(MAX_PACKET))
    except (OSError, ChannelError) as exc:
        print(f"register worker: no configuration: {exc}", file=sys.stderr)
        return 1
    if not isinstance(config, WorkerConfig):
        print("register worker: the first packet is not a configuration", file=sys.stderr)
        return 1
    setup_logging(config.log_level, config.log_json)
    # as the main process does (node.tune_gc_for_serving, not imported: it pulls in the whole
    # node): what the imports built lives as long as the process, and the retired
    # transactions are many small tuples, so collect the young generation less often
    gc.collect()
    gc.freeze()
    gc.set_threshold(*_GC_THRESHOLDS)
    try:
        import uvloop
    except ImportError:  # uvloop is optional off Linux
        asyncio.run(serve_worker(config, sock))
    else:
        uvloop.run(serve_worker(config, sock))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

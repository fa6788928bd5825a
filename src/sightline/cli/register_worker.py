"""Entry point of one REGISTER worker process (started by ``sightline serve``, not by hand).

``python -m sightline.cli.register_worker FD``: FD is the worker's end of a SOCK_SEQPACKET
pair whose first packet is its :class:`~sightline.gb28181.register_channel.WorkerConfig`.
See :mod:`sightline.gb28181.register_workers`.
"""

from __future__ import annotations

import socket
import sys

from sightline.cli.worker_process import run_worker
from sightline.gb28181.register_channel import MAX_PACKET, ChannelError, WorkerConfig, decode
from sightline.gb28181.register_worker_side import serve_worker
from sightline.logs import setup_logging

__all__ = ["main"]


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
    run_worker(serve_worker(config, sock))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Entry point of one media worker process (started by ``sightline serve``, not by hand).

``python -m sightline.cli.media_worker CONTROL_FD RELAY_FD``: CONTROL_FD is the worker's end of
a SOCK_SEQPACKET pair whose first packet is its
:class:`~sightline.gb28181.live_channel.MediaWorkerConfig`; RELAY_FD a stream socket for the
access units the main process asks for. See :mod:`sightline.gb28181.live_workers`.
"""

from __future__ import annotations

import socket
import sys

from sightline.cli.worker_process import run_worker
from sightline.gb28181.live_channel import MediaWorkerConfig, decode
from sightline.gb28181.packet_channel import MAX_PACKET, ChannelError
from sightline.logs import setup_logging
from sightline.node_tuning import GIL_SWITCH_INTERVAL_S

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Read the configuration from the control channel, then serve until the main process
    closes it."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or not all(a.isdigit() for a in args):
        print("usage: python -m sightline.cli.media_worker CONTROL_FD RELAY_FD", file=sys.stderr)
        return 2
    control = socket.socket(fileno=int(args[0]))
    relay = socket.socket(fileno=int(args[1]))
    try:
        config = decode(control.recv(MAX_PACKET))
    except (OSError, ChannelError) as exc:
        print(f"media worker: no configuration: {exc}", file=sys.stderr)
        return 1
    if not isinstance(config, MediaWorkerConfig):
        print("media worker: the first packet is not a configuration", file=sys.stderr)
        return 1
    setup_logging(config.log_level, config.log_json)
    from sightline.media_worker import serve_media_worker  # after logging is set up

    run_worker(
        serve_media_worker(config, control, relay), gil_switch_interval_s=GIL_SWITCH_INTERVAL_S
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Run the loopback test platform in its own process: ``python -m tests.sim.platform_proc``.

Prints ``UDP <port> TCP <port>`` once listening, then ``registered <n>`` for every line read on
stdin, and exits at end of input. Load tests use it so the platform's CPU and memory are not
counted against the simulator's.
"""

from __future__ import annotations

import asyncio
import sys

from tests.sim.platform import start_platform


async def _main() -> None:
    platform = await start_platform()
    print(f"UDP {platform.udp.port} TCP {platform.tcp.port}", flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while await reader.readline():
        print(f"registered {len(platform.registrar.bindings)}", flush=True)
    await platform.close()


if __name__ == "__main__":
    asyncio.run(_main())

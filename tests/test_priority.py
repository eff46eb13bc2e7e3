"""An import into a serving graph yields the CPU to the API (graph/importers/priority.py):
the importer and, on this machine, its server process run at nice 10, as the OS reports."""

from __future__ import annotations

import subprocess
import sys

from graph.importers.priority import NICE

# In a child: renicing is one-way, and the test process should keep its priority.
CHILD = """
import asyncio, os, sys
import asyncpg
from graph.importers.priority import yield_cpu

async def main() -> None:
    conn = await asyncpg.connect(sys.argv[1])
    try:
        server = await conn.fetchval("select pg_backend_pid()")
        await yield_cpu(conn)
        own = os.getpriority(os.PRIO_PROCESS, 0)
        print(own, os.getpriority(os.PRIO_PROCESS, server))
    finally:
        await conn.close()

asyncio.run(main())
"""


def test_the_importer_and_its_local_server_process_run_at_a_lower_priority(
    empty_dsn: str,
) -> None:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, empty_dsn], capture_output=True, text=True, check=True
    )
    own, server = map(int, result.stdout.split())
    assert own == NICE
    assert server == NICE

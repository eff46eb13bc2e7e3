"""Is coalescing worth it (graph/compiled/coalesce.py)? The compiled film page's statement
(tests/sql/film_page.sql) run N times apart against once in its batched form for N films, on
one asyncpg connection to the peers' 50k-film database: PostgreSQL's CPU (the backend's) and
the client's (asyncpg and the event loop) per film page, side by side in one run.

    .venv/bin/python bench/coalesce_db.py [--pages 2048]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE / "peers"), str(HERE.parent)]

import asyncpg  # noqa: E402
from database import open_database  # noqa: E402

from graph.compiled.coalesce import batched  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
CACHE = Path(os.environ.get("FILMGRAPH_BENCH_CACHE") or Path.home() / ".cache" / "filmgraph-bench")
SQL = "\n".join(
    line
    for line in (HERE.parent / "tests" / "sql" / "film_page.sql").read_text().splitlines()
    if not line.startswith("--")
)


def backend_cpu(pid: int) -> float:
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICK


async def main(pages: int) -> None:
    db = await open_database(CACHE, 50_000)
    try:
        conn = await asyncpg.connect(db.dsn)
        pid = await conn.fetchval("select pg_backend_pid()")
        rows = await conn.fetch("select slug from film order by id")
        slugs = [r["slug"] for r in rows][:: max(1, len(rows) // pages)][:pages]
        batch_sql = batched(SQL)
        assert batch_sql is not None
        # Same answers, both ways.
        alone = [(await conn.fetch(SQL, s, 10, "US"))[0]["data"] for s in slugs[:32]]
        together = await conn.fetch(batch_sql, slugs[:32], [10] * 32, ["US"] * 32)
        assert [r["data"] for r in sorted(together, key=lambda r: r["i"])] == alone
        print(f"{len(slugs)} film pages per way; CPU us per film page (db = backend, client)")
        for _warm in range(2):
            for s in slugs[:200]:
                await conn.fetch(SQL, s, 10, "US")
            await conn.fetch(batch_sql, slugs[:200], [10] * 200, ["US"] * 200)
        for n in (1, 8, 16, 32):
            for way in ("alone", "batched"):
                db0, client0, wall0 = backend_cpu(pid), time.process_time(), time.monotonic()
                for start in range(0, len(slugs), n):
                    group = slugs[start : start + n]
                    if way == "alone":
                        for s in group:
                            await conn.fetch(SQL, s, 10, "US")
                    else:
                        await conn.fetch(batch_sql, group, [10] * len(group), ["US"] * len(group))
                db_us = 1e6 * (backend_cpu(pid) - db0) / len(slugs)
                client_us = 1e6 * (time.process_time() - client0) / len(slugs)
                wall_us = 1e6 * (time.monotonic() - wall0) / len(slugs)
                print(
                    f"N={n:2} {way:7}  db {db_us:6.0f}  client {client_us:5.0f}  "
                    f"sum {db_us + client_us:6.0f}  wall {wall_us:6.0f}",
                    flush=True,
                )
        await conn.close()
    finally:
        db.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=2048)
    asyncio.run(main(parser.parse_args().pages))

"""The PostgreSQL versions: the suite runs on the one its pass asked for, and an older server
than filmgraph supports is refused with a message naming what was found and what is needed."""

from __future__ import annotations

import asyncpg
import pytest

from graph.server_version import OLDEST_SUPPORTED, UnsupportedServer, check_server_version


async def test_the_suite_runs_on_the_postgresql_version_this_pass_asked_for(
    server_dsn: str, expected_major: int | None
) -> None:
    # scripts/test runs the suite once per version (FILMGRAPH_TEST_PG): a pass that fell back
    # to another server would test nothing it claims to.
    conn = await asyncpg.connect(server_dsn)
    try:
        major = int(await conn.fetchval("show server_version_num")) // 10000
    finally:
        await conn.close()
    if expected_major is None:  # an external server nobody named: at least a supported one
        assert major >= OLDEST_SUPPORTED
    else:
        assert major == expected_major


async def test_a_server_older_than_supported_is_refused_naming_its_version(
    empty_dsn: str,
) -> None:
    conn = await asyncpg.connect(empty_dsn)
    try:
        await check_server_version(conn)  # this one is supported
        version = await conn.fetchval("show server_version")
        major = conn.get_server_version().major
        # No server older than 15 runs here: ask for one newer than this to see the refusal.
        with pytest.raises(UnsupportedServer) as refused:
            await check_server_version(conn, oldest=major + 1)
    finally:
        await conn.close()
    assert str(refused.value) == (
        f"PostgreSQL {version} is not supported: filmgraph needs PostgreSQL {major + 1} "
        "or later (15 to 18 are tested)"
    )

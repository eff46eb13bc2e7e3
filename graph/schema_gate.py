"""Whether the database's schema is the one this filmgraph was built for, as the API sees it.

serve can run on a database it did not migrate (--no-migrate, FILMGRAPH_MIGRATE_ON_START=0,
or a database that was down at start-up). Until its schema matches, /readyz answers 503 and
every operation SERVICE_UNAVAILABLE, instead of the INTERNAL errors that a missing table or
function would give. Once someone runs `filmgraph migrate`, the next probe or request sees it:
no restart needed.
"""

from __future__ import annotations

import logging

from graph.db import CONNECTION_ERRORS, Database
from graph.migrate import SchemaState, available, schema_state

log = logging.getLogger(__name__)


class SchemaGate:
    def __init__(self) -> None:
        self.known = available()
        # Set by the first check that finds the schema current; from then on operations run
        # unchecked (only a probe looks again: the schema moves only forward).
        self.current = False

    async def check(self, pool: Database) -> SchemaState:
        """Read schema_migration now (one statement); raises as the pool and database do."""
        async with pool.acquire() as conn:
            state = await schema_state(conn, self.known)
        self.current = state.problem() is None
        return state

    async def refusal(self, pool: Database) -> str | None:
        """Why an operation cannot run now, for its SERVICE_UNAVAILABLE error; None if it can."""
        if self.current:
            return None
        try:
            state = await self.check(pool)
        except CONNECTION_ERRORS:
            # The database is not answering: the operation's own statements report that.
            return None
        problem = state.problem()
        if problem is None:
            return None
        log.warning(
            "operation refused database=%r migrations=%s",
            problem,
            ",".join(*state.detail().values()),
        )
        return f"The database is not ready ({problem}); try again shortly."

"""The key that seals `films`/`people` cursors (graph/discovery/keyset.py) when
FILMGRAPH_CURSOR_SECRET is unset.

On the embedded server the key is kept with its data, in `cursor.secret` (mode 0600) beside
`pgdata`: cursors then outlive a restart, as the data they point into does.

With DATABASE_URL and no secret, each process makes a key of its own, and says at start-up
that its cursors die with it. A key kept in the database would be shared by every process and
survive restarts, but filmgraph would then write to a database it otherwise only reads (a
read-only role or a replica cannot), and the key would travel in every dump and restored
copy, so a staging copy would accept production's cursors. A deployment runs several
processes and restarts them: it sets the secret once, where it sets DATABASE_URL.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

FILE = "cursor.secret"


def kept_in(data_dir: Path) -> str:
    """The secret kept in data_dir, made there on first use (by one process only, when two
    start at once)."""
    path = data_dir / FILE
    with contextlib.suppress(FileNotFoundError):
        if kept := path.read_text().strip():
            return kept
        path.unlink()  # emptied by hand: make a new one
    data_dir.mkdir(parents=True, exist_ok=True)
    # Written whole, unreadable to others, under a name of this process's own; then linked
    # into place, which fails if another process got there first: then its secret is the one.
    secret = secrets.token_urlsafe(32)
    partial = data_dir / f"{FILE}.{os.getpid()}"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secret + "\n")
    try:
        os.link(partial, path)
    except FileExistsError:
        return path.read_text().strip()
    finally:
        partial.unlink()
    return secret

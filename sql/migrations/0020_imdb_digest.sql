-- Change detection for IMDb re-imports (issue 12): per title, a digest of the lines of a file
-- (or pair of files) that the last IMDb import merged whole. A re-import leaves out the lines
-- of a title whose digest is the same, so its merges and prunes only see what changed (see
-- graph/importers/digests.py). Not part of the graph: deleting every row is always safe (the
-- next import then stages every line, as before), and any other import does just that.
-- Unlogged: a cache, not data. After a crash PostgreSQL empties it, and the next import compares
-- every title; meanwhile no WAL is written for it (a first load stores millions of rows).
create unlogged table imdb_digest (
    -- 'title.akas', or 'credits' for title.principals and title.crew together
    file text not null,
    imdb_id text not null,
    digest bigint not null,
    -- the graph rows the title's lines give (alternative titles, credits): the summary counts
    -- them as unchanged when the lines are left out
    rows integer not null check (rows >= 0),
    primary key (file, imdb_id)
);

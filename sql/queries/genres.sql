-- Genres: lookups by key. A film's genres and every genre (a root page) are built from
-- graph/mapping.py (graph/batches.py; tests/sql/batches.sql).

-- name: genres_by_id
-- Genres for a batch of ids.
select g.*
from genre g
where g.id = any($1::bigint[]);

-- name: genres_by_slug
-- Genres for a batch of slugs.
select g.*
from genre g
where g.slug = any($1::text[]);

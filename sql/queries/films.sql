-- Films: lookups by key. The relations that end in films (a genre's, a person's, a provider's)
-- are built from their rows and order in graph/mapping.py (graph/batches.py; every one of them
-- is in tests/sql/batches.sql).

-- name: films_by_id
-- Films for a batch of ids.
select f.*
from film f
where f.id = any($1::bigint[]);

-- name: films_by_slug
-- Films for a batch of slugs.
select f.*
from film f
where f.slug = any($1::text[]);

-- name: films_by_imdb_id
-- Films for a batch of IMDb ids (tt...).
select f.*
from film f
where f.imdb_id = any($1::text[]);

-- name: films_by_tmdb_id
-- Films for a batch of TMDB movie ids.
select f.*
from film f
where f.tmdb_id = any($1::int[]);

-- name: films_by_wikidata_id
-- Films for a batch of Wikidata item ids (Q...).
select f.*
from film f
where f.wikidata_id = any($1::text[]);

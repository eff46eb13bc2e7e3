-- People: lookups by key. Credits, and the people of a film, are relations built from
-- graph/mapping.py (graph/batches.py; tests/sql/batches.sql).

-- name: people_by_id
-- People for a batch of ids.
select p.*
from person p
where p.id = any($1::bigint[]);

-- name: people_by_slug
-- People for a batch of slugs.
select p.*
from person p
where p.slug = any($1::text[]);

-- name: people_by_imdb_id
-- People for a batch of IMDb ids (nm...).
select p.*
from person p
where p.imdb_id = any($1::text[]);

-- name: people_by_tmdb_id
-- People for a batch of TMDB person ids.
select p.*
from person p
where p.tmdb_id = any($1::int[]);

-- name: people_by_wikidata_id
-- People for a batch of Wikidata item ids (Q...).
select p.*
from person p
where p.wikidata_id = any($1::text[]);

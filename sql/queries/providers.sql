-- Providers: lookups by key. Offers, and the providers of a film, are relations built from
-- graph/mapping.py (graph/batches.py; tests/sql/batches.sql).

-- name: providers_by_id
-- Providers for a batch of ids.
select p.*
from provider p
where p.id = any($1::bigint[]);

-- name: providers_by_slug
-- Providers for a batch of slugs.
select p.*
from provider p
where p.slug = any($1::text[]);

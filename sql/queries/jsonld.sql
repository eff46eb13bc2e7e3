-- schema.org JSON-LD documents (sql/migrations/0012_linked.sql builds them): Film.jsonLd and
-- Person.jsonLd on the resolver path, and GET /films/{slug} and /people/{slug}.

-- name: film_jsonld_by_id
-- The Movie document of a batch of films ($2 the public URL).
select f.id, film_jsonld(f, $2::text)::text as document
from film f
where f.id = any($1::bigint[]);

-- name: person_jsonld_by_id
-- The Person document of a batch of people ($2 the public URL).
select p.id, person_jsonld(p, $2::text)::text as document
from person p
where p.id = any($1::bigint[]);

-- name: film_jsonld_by_slug
-- One film's Movie document by slug ($2 the public URL); no row when none has it.
select film_jsonld(f, $2::text)::text as document
from film f
where f.slug = $1::text;

-- name: person_jsonld_by_slug
-- One person's Person document by slug ($2 the public URL); no row when none has it.
select person_jsonld(p, $2::text)::text as document
from person p
where p.slug = $1::text;

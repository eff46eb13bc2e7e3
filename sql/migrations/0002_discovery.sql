-- Discovery: accent- and case-insensitive, typo-tolerant search with PostgreSQL's own machinery
-- (full-text search, unaccent, pg_trgm), and indexes for the filters and orders of `films`.

create extension if not exists unaccent;
create extension if not exists pg_trgm;

-- unaccent() is only STABLE (its dictionary could be swapped), so it cannot back an index.
-- This wrapper pins the dictionary, which makes folding a pure function of its input.
create function fold(text) returns text
    language sql immutable parallel safe strict
    return lower(public.unaccent('public.unaccent'::regdictionary, $1));

-- How well folded search text q matches a name: as a whole (similarity) or as part of it
-- (word similarity). One definition for people, genres and providers.
create function name_match(name text, q text) returns float8
    language sql immutable parallel safe strict
    return greatest(similarity(fold(name), q), word_similarity(q, fold(name)));

-- Title weighs over original title over synopsis ('simple': no stemming, so a word matches as
-- typed, in any language).
alter table film add column search_vector tsvector generated always as (
    setweight(to_tsvector('simple', fold(title)), 'A')
    || setweight(to_tsvector('simple', coalesce(fold(original_title), '')), 'B')
    || setweight(to_tsvector('simple', coalesce(fold(synopsis), '')), 'C')
) stored;
create index film_search_vector_idx on film using gin (search_vector);
-- Typo tolerance (similarity, word similarity) on titles. Original titles are matched by
-- words (the search vector) only: a second trigram index doubled the cost of every search.
create index film_title_trgm_idx on film using gin (fold(title) gin_trgm_ops);
-- Autocomplete: a prefix is a range of folded titles in byte order (collation "C"), which a
-- plain btree serves whatever the database's own collation and however the plan is cached.
create index film_title_prefix_idx on film ((fold(title) collate "C"), imdb_votes);

create index person_name_trgm_idx on person using gin (fold(name) gin_trgm_ops);
create index person_name_prefix_idx on person ((fold(name) collate "C"));

-- Orders of `films` (keyset: the sort key, then id).
create index film_year_idx on film ((coalesce(year, 0)), id);
create index film_rating_idx on film ((coalesce(imdb_rating, -1)), id);
create index film_votes_idx on film ((coalesce(imdb_votes, -1)), id);
create index film_runtime_idx on film ((coalesce(runtime_minutes, -1)), id);
-- Availability filter: films on offer in a region, by kind.
create index offer_region_kind_film_idx on offer (region, kind, film_id);

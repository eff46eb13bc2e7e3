-- Search and autocomplete. $1 is the search text; matching folds case and accents (fold()),
-- forgives typos (pg_trgm similarity, word by word for films and people: see migration 0003)
-- and understands words (full-text search).

-- name: film_ids_by_search
-- Films matching $1, best first, at most $2: title over original title over synopsis. Every
-- word must match a word of the film's, as typed or corrected against the dictionary of title
-- words (typo_query); the whole title's trigram similarity to the text breaks near-ties.
with q as materialized (select fold($1::text) as text, typo_query($1::text, false) as query)
select f.id,
       (ts_rank('{0.1, 0.3, 0.6, 1.0}', f.search_vector, q.query)
        + similarity(fold(f.title), q.text))::float8 as score
from film f, q
where f.search_vector @@ q.query
order by score desc, f.id
limit $2;

-- name: person_ids_by_search
-- People whose name matches $1, best first, at most $2: every word as typed or corrected
-- against the dictionary of name words (typo_query), ranked by similarity to the whole name.
with q as materialized (
    select fold($1::text) as text, typo_query($1::text, true) as query
)
select p.id, name_match(p.name, q.text) as score
from person p, q
where to_tsvector('simple', fold(p.name)) @@ q.query
order by score desc, p.id
limit $2;

-- name: genre_ids_by_search
-- Genres whose name matches $1, best first, at most $2.
with q as (select fold($1::text) as text)
select g.id, name_match(g.name, q.text) as score
from genre g, q
where fold(g.name) % q.text or fold(g.name) %> q.text
order by score desc, g.id
limit $2;

-- name: provider_ids_by_search
-- Providers whose name matches $1, best first, at most $2.
with q as (select fold($1::text) as text)
select p.id, name_match(p.name, q.text) as score
from provider p, q
where fold(p.name) % q.text or fold(p.name) %> q.text
order by score desc, p.id
limit $2;

-- name: film_ids_by_prefix
-- Films whose folded title starts with the folded $1, most voted first, at most $2. A film
-- without IMDb votes (one from MovieLens or TMDB only) ranks as if it had the median votes
-- of the matching films that have some: unknown is not last.
with q as (select fold($1::text) collate "C" as low), matches as materialized (
    select f.id, f.imdb_votes
    from film f, q
    where fold(f.title) collate "C" >= q.low
      and fold(f.title) collate "C" < q.low || chr(1114111)
), typical as (
    select percentile_disc(0.5) within group (order by imdb_votes) as votes
    from matches where imdb_votes is not null
)
select m.id
from matches m, typical t
order by coalesce(m.imdb_votes, t.votes, 0) desc, m.id
limit $2;

-- name: person_ids_by_prefix
-- People whose folded name starts with the folded $1, by name, at most $2.
with q as (select fold($1::text) collate "C" as low)
select p.id
from person p, q
where fold(p.name) collate "C" >= q.low
  and fold(p.name) collate "C" < q.low || chr(1114111)
order by fold(p.name) collate "C", p.id
limit $2;

-- Loading the demo data shipped in graph/demo/demo.json. Every insert skips rows already present,
-- so loading twice changes nothing.

-- name: insert_genre
-- Add a genre unless its slug exists.
insert into genre (slug, name) values ($1, $2)
on conflict (slug) do nothing;

-- name: insert_person
-- Add a person unless the slug exists.
insert into person (slug, name, birth_year, death_year, biography, photo_url, imdb_id)
values ($1, $2, $3, $4, $5, $6, $7)
on conflict (slug) do nothing;

-- name: insert_film
-- Add a film unless the slug exists.
insert into film (
    slug, title, original_title, year, release_date, runtime_minutes, certification,
    certification_country, synopsis, imdb_rating, imdb_votes, poster_url, imdb_id, tmdb_id,
    wikidata_id
)
values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
on conflict (slug) do nothing;

-- name: insert_provider
-- Add a provider unless its slug or its TMDB id exists (a TMDB provider list imported first
-- may hold the demo's TMDB id under another name: 2 is "Apple iTunes" there).
insert into provider (slug, name, logo_url, homepage, tmdb_id)
values ($1, $2, $3, $4, $5)
on conflict do nothing;

-- name: provider_ids_by_tmdb_id
-- The providers holding these TMDB ids, which the demo's providers of those ids stand for.
select tmdb_id, id from provider where tmdb_id = any($1::integer[]);

-- name: ids_by_slug
-- Slug to id for every film, person, genre and provider, to link the demo rows.
select 'film' as kind, slug, id from film
union all select 'person', slug, id from person
union all select 'genre', slug, id from genre
union all select 'provider', slug, id from provider;

-- name: insert_film_genre
-- Link a film to a genre.
insert into film_genre (film_id, genre_id) values ($1, $2)
on conflict do nothing;

-- name: insert_credit
-- Credit a person on a film.
insert into credit (film_id, person_id, role, character_name, billing_order)
values ($1, $2, $3, $4, $5)
on conflict (film_id, role, person_id) do nothing;

-- name: insert_offer
-- Offer a film from a provider in a region.
insert into offer (film_id, provider_id, region, kind, price, currency, quality, url)
values ($1, $2, $3, $4, $5, $6, $7, $8)
on conflict (film_id, region, kind, provider_id, quality) do nothing;

-- name: film_count
-- How many films the graph holds (the demo data loads into an empty graph on first start).
select count(*) from film;

-- name: restart_identity
-- Number table $1's rows from 1 again: the generator fills an empty graph with known ids.
select setval(pg_get_serial_sequence($1::text, 'id'), 1, false);

-- name: collaborations_trigger_off
-- `filmgraph generate` fills an empty graph in batches of 50,000 credits: migration 0019's
-- count of the busiest people's collaborations, which reads each batch's films' credits
-- before and after it, is left out and counted once at the end (collaborations_recount), as
-- the IMDb first load does. Transactional: generate's transaction holds credit meanwhile.
alter table credit disable trigger credit_to_collaboration_insert;

-- name: collaborations_trigger_on
alter table credit enable trigger credit_to_collaboration_insert;

-- name: collaborations_recount
select collaborations_recount();

-- name: graph_row_count
-- Rows in the tables the generator numbers itself; it only fills a graph where this is 0.
select (select count(*) from film) + (select count(*) from person)
     + (select count(*) from genre) + (select count(*) from provider);

-- Films: lookups by key, and the paged lists that end in films.
-- Statements marked (paged) are wrapped by graph/db.py in the fixed pagination fragment, which
-- owns $1-$4 (after, before, first, last); the statement's own parameters start at $5. Each paged
-- statement yields `parent` (the batch key), `rn` (position in its order, from 1) and the row.

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

-- name: films_page_by_genre_id (paged)
-- A genre's films, newest first.
select fg.genre_id as parent,
       row_number() over (
           partition by fg.genre_id
           order by f.year desc nulls last, f.title, f.id
       ) as rn,
       f.*
from film_genre fg
join film f on f.id = fg.film_id
where fg.genre_id = any($5::bigint[]);

-- name: filmography_page_by_person_id (paged)
-- A person's films, newest first, optionally only those where they held one role ($6). A film
-- appears once even when the person held several roles on it.
select c.parent,
       row_number() over (
           partition by c.parent
           order by f.year desc nulls last, f.release_date desc nulls last, f.title, f.id
       ) as rn,
       f.*
from (
    select distinct c.person_id as parent, c.film_id
    from credit c
    where c.person_id = any($5::bigint[])
      and ($6::text is null or c.role = $6::text)
) c
join film f on f.id = c.film_id;

-- name: films_page_by_provider_id (paged)
-- Films a provider offers, optionally in one region ($6), by title.
select o.parent,
       row_number() over (partition by o.parent order by f.title, f.id) as rn,
       f.*
from (
    select distinct o.provider_id as parent, o.film_id
    from offer o
    where o.provider_id = any($5::bigint[])
      and ($6::text is null or o.region = $6::text)
) o
join film f on f.id = o.film_id;

-- name: alternative_titles_by_film_id
-- Other titles of each film of a batch (IMDb's "akas"), optionally in one region ($2), in
-- IMDb's order.
select a.film_id as parent, a.*
from film_alternative_title a
where a.film_id = any($1::bigint[])
  and ($2::text is null or a.region = $2::text)
order by a.film_id, a.ordering;

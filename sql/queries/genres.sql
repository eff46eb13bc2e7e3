-- Genres.

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

-- name: genres_page (paged)
-- Every genre, by name.
select 0::bigint as parent,
       row_number() over (order by g.name, g.id) as rn,
       g.*
from genre g;

-- name: genres_by_film_id
-- The genres of each film of a batch, by name.
select fg.film_id as parent, g.*
from film_genre fg
join genre g on g.id = fg.genre_id
where fg.film_id = any($1::bigint[])
order by fg.film_id, g.name;

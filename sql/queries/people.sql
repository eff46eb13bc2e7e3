-- People and credits.

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

-- name: people_by_film_id_and_role
-- The people holding one role ($2) on each film of a batch, in billing order.
select c.film_id as parent, p.*
from credit c
join person p on p.id = c.person_id
where c.film_id = any($1::bigint[])
  and c.role = $2::text
order by c.film_id, c.billing_order nulls last, c.id;

-- name: credits_by_film_id
-- Credits on each film of a batch: optionally only some roles ($2), at most $3 per film. Ordered
-- crew first (director, writer, ...), then cast in billing order.
select ranked.*
from (
    select c.film_id as parent,
           c.*,
           row_number() over (
               partition by c.film_id
               order by array_position(
                            array['DIRECTOR', 'WRITER', 'PRODUCER', 'ACTOR', 'COMPOSER',
                                  'CINEMATOGRAPHER', 'EDITOR', 'OTHER'],
                            c.role),
                        c.billing_order nulls last, c.id
           ) as rn
    from credit c
    where c.film_id = any($1::bigint[])
      and ($2::text[] is null or c.role = any($2::text[]))
) ranked
where $3::int is null or ranked.rn <= $3::int
order by ranked.parent, ranked.rn;

-- name: credits_page_by_person_id (paged)
-- A person's credits, newest film first, optionally only some roles ($6).
select c.person_id as parent,
       row_number() over (
           partition by c.person_id
           order by f.year desc nulls last, f.title, f.id, c.role, c.id
       ) as rn,
       c.*
from credit c
join film f on f.id = c.film_id
where c.person_id = any($5::bigint[])
  and ($6::text[] is null or c.role = any($6::text[]));

-- Providers and their offers.

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

-- name: providers_page (paged)
-- Every provider, by name.
select 0::bigint as parent,
       row_number() over (order by p.name, p.id) as rn,
       p.*
from provider p;

-- name: offers_by_film_id
-- Offers for each film of a batch, optionally in one region ($2) and of some kinds ($3).
-- Cheapest first within a kind, kinds in the order a viewer weighs them.
select o.film_id as parent, o.*
from offer o
where o.film_id = any($1::bigint[])
  and ($2::text is null or o.region = $2::text)
  and ($3::text[] is null or o.kind = any($3::text[]))
order by o.film_id, o.region,
         array_position(array['FREE', 'ADS', 'SUBSCRIPTION', 'RENT', 'BUY'], o.kind),
         o.price nulls first, o.provider_id, o.quality, o.id;

-- name: offers_page_by_provider_id (paged)
-- A provider's offers, optionally in one region ($6), by film title.
select o.provider_id as parent,
       row_number() over (
           partition by o.provider_id
           order by f.title, o.film_id, o.region, o.kind, o.quality, o.id
       ) as rn,
       o.*
from offer o
join film f on f.id = o.film_id
where o.provider_id = any($5::bigint[])
  and ($6::text is null or o.region = $6::text);

-- name: providers_by_film_id
-- The providers offering each film of a batch, optionally in one region ($2), by name.
select distinct on (o.film_id, p.name, p.id) o.film_id as parent, p.*
from offer o
join provider p on p.id = o.provider_id
where o.film_id = any($1::bigint[])
  and ($2::text is null or o.region = $2::text)
order by o.film_id, p.name, p.id;

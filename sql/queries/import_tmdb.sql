-- `filmgraph import tmdb-providers | tmdb-watch`: TMDB's watch-provider list and its
-- /movie/{id}/watch/providers answers, checked in Python (JSON) and merged here.

-- name: tmdb_provider_stage_create
-- Providers as TMDB lists them (also those named in watch-provider answers).
create temp table tmdb_provider_stage (
    tmdb_id integer not null, name text not null, logo_path text, display_priority integer
) on commit drop;

-- name: tmdb_offer_stage_create
-- Offers from watch-provider answers: one per film, region, kind and provider.
create temp table tmdb_offer_stage (
    file text not null, film_tmdb_id integer not null, region text not null, kind text not null,
    provider_tmdb_id integer not null, link text
) on commit drop;

-- name: tmdb_watch_film_stage_create
-- The film each watch-provider answer is about: the answer lists all of its availability.
-- imdb_id: the IMDb id that the film's details give, when the answer came inside them.
create temp table tmdb_watch_film_stage (
    file text not null, film_tmdb_id integer not null, imdb_id text
) on commit drop;

-- name: tmdb_watch_films_adopt_tmdb_id
-- An answer inside the film's details (which give its IMDb id) about a TMDB id no film has:
-- the film of that IMDb id, if it has no TMDB id, gets this one (an IMDb import gives none).
-- A TMDB id the answers give with several IMDb ids is left alone. Returns how many films.
with wanted as (
    select distinct s.imdb_id, s.film_tmdb_id
    from tmdb_watch_film_stage s
    where s.imdb_id is not null
      and not exists (select 1 from film f where f.tmdb_id = s.film_tmdb_id)
), one as (
    select w.* from wanted w
    where (select count(*) from wanted x where x.film_tmdb_id = w.film_tmdb_id) = 1
      and (select count(*) from wanted x where x.imdb_id = w.imdb_id) = 1
), changed as (
    update film f set tmdb_id = o.film_tmdb_id
    from one o
    where f.imdb_id = o.imdb_id and f.tmdb_id is null
    returning 1
)
select count(*) from changed;

-- name: tmdb_providers_merge
-- Merge the staged providers by TMDB id. A provider the graph has keeps its name (TMDB's
-- list and answers name some differently: the first file to name it wins); only its logo is
-- brought up to date. A provider the graph has without a TMDB id (the demo's) is adopted by
-- slug; others get the slug of their name, or name-tmdbid when that is taken. Returns
-- inserted, updated and the number merged.
with wanted as (
    select distinct on (tmdb_id) tmdb_id, btrim(name) as name,
           case when logo_path ~ '^/[A-Za-z0-9._-]+$'
                then 'https://image.tmdb.org/t/p/original' || logo_path end as logo_url,
           coalesce(nullif(slugify(name), ''), 'provider') as base,
           display_priority
    from tmdb_provider_stage
    order by tmdb_id, display_priority nulls last
), ranked as (
    select w.*, row_number() over (
        partition by base order by display_priority nulls last, tmdb_id) as rn
    from wanted w
), changed as (
    update provider p set logo_url = coalesce(r.logo_url, p.logo_url)
    from ranked r
    where p.tmdb_id = r.tmdb_id
      and p.logo_url is distinct from coalesce(r.logo_url, p.logo_url)
    returning 1
), adopted as (
    update provider p set tmdb_id = r.tmdb_id, logo_url = coalesce(p.logo_url, r.logo_url)
    from ranked r
    where p.tmdb_id is null and p.slug = r.base and r.rn = 1
      and not exists (select 1 from provider q where q.tmdb_id = r.tmdb_id)
    returning r.tmdb_id
), added as (
    insert into provider (slug, name, logo_url, tmdb_id)
    select case when r.rn = 1 and not exists (select 1 from provider p where p.slug = r.base)
                then r.base else r.base || '-' || r.tmdb_id end,
           r.name, r.logo_url, r.tmdb_id
    from ranked r
    where not exists (select 1 from provider p where p.tmdb_id = r.tmdb_id)
      and r.tmdb_id not in (select tmdb_id from adopted)
    returning 1
)
select (select count(*) from added) as inserted,
       (select count(*) from changed) + (select count(*) from adopted) as updated,
       (select count(*) from wanted) as total;

-- name: tmdb_watch_unknown_films
-- Answers about films the graph does not have (by TMDB id): left out before their offers and
-- providers are staged, so that they write nothing.
with gone as (
    delete from tmdb_watch_film_stage s
    where not exists (select 1 from film f where f.tmdb_id = s.film_tmdb_id)
    returning s.file, s.film_tmdb_id
)
select file, film_tmdb_id from gone order by file;

-- name: tmdb_unread_stage_create
-- Where an answer had a bad entry (rejected): its film, region and kind (null: every kind).
-- The film's offers there are not known to be gone, and are not pruned.
create temp table tmdb_unread_stage (
    film_tmdb_id integer not null, region text not null, kind text
) on commit drop;

-- name: tmdb_offers_prune
-- Offers of the answers' films that the answers no longer list: gone from TMDB. Only offers
-- without a quality are TMDB's (it gives none; other sources name one). Where an answer had a
-- bad entry (tmdb_unread_stage), the offers are kept: the bad entry may be one of them.
-- Returns how many went, and how many were kept so.
with films as (
    select distinct f.id
    from tmdb_watch_film_stage s join film f on f.tmdb_id = s.film_tmdb_id
), listed as (
    select f.id as film_id, p.id as provider_id, s.region, s.kind
    from tmdb_offer_stage s
    join film f on f.tmdb_id = s.film_tmdb_id
    join provider p on p.tmdb_id = s.provider_tmdb_id
), unlisted as (
    select o.id,
           exists (select 1 from tmdb_unread_stage u join film f on f.tmdb_id = u.film_tmdb_id
                   where f.id = o.film_id and u.region = o.region
                     and (u.kind is null or u.kind = o.kind)) as unread
    from offer o join films on films.id = o.film_id
    where o.quality is null
      and not exists (select 1 from listed l
                      where l.film_id = o.film_id and l.provider_id = o.provider_id
                        and l.region = o.region and l.kind = o.kind)
), gone as (
    delete from offer o using unlisted u
    where o.id = u.id and not u.unread
    returning 1
)
select (select count(*) from gone) as deleted,
       (select count(*) from unlisted where unread) as kept;

-- name: tmdb_offers_merge
-- Merge the staged offers (no price or quality: TMDB gives neither); the region's link is the
-- offer's URL. Returns inserted, updated and the number merged.
with wanted as (
    select distinct on (f.id, s.region, s.kind, p.id)
           f.id as film_id, p.id as provider_id, s.region, s.kind, s.link
    from tmdb_offer_stage s
    join film f on f.tmdb_id = s.film_tmdb_id
    join provider p on p.tmdb_id = s.provider_tmdb_id
    order by f.id, s.region, s.kind, p.id, s.file
), merged as (
    insert into offer (film_id, provider_id, region, kind, url)
    select film_id, provider_id, region, kind, link from wanted
    on conflict (film_id, region, kind, provider_id, quality) do update set url = excluded.url
    where offer.url is distinct from excluded.url
    returning (xmax = 0) as inserted
)
select count(*) filter (where inserted) as inserted,
       count(*) filter (where not inserted) as updated,
       (select count(*) from wanted) as total
from merged;

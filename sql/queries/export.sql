-- `filmgraph export jsonld`: the catalogue's JSON-LD. Each part of a film's document is
-- aggregated for many films at once and merged on film id, then put together by
-- film_jsonld_of (sql/migrations/0012_linked.sql), the same function Film.jsonLd uses.
--
-- The command runs films_jsonld_chunk over consecutive film-id ranges on several connections
-- that share one snapshot (graph/export.py); films_jsonld_feed, the whole catalogue as one
-- statement, is the reference the chunked feed is tested and benchmarked against.

-- name: films_jsonld_feed
-- Every film's schema.org Movie in id order ($1 the public URL); with a region ($2), only the
-- films offered there, with only that region's offers.
select film_jsonld_of(
    f, $1::text, genres.names, languages.language, people.directors, people.writers,
    people.actors, actions.actions)::text as document
from film f
left join (
    select fg.film_id, json_agg(g.name order by g.name) as names
    from film_genre fg join genre g on g.id = fg.genre_id
    group by fg.film_id
) genres on genres.film_id = f.id
left join (
    select distinct on (a.film_id) a.film_id, a.language
    from film_alternative_title a
    where a.is_original and a.language is not null
    order by a.film_id, a.ordering
) languages on languages.film_id = f.id
left join (
    -- The credits sorted once for all films (a hash join with person, then one sort), not a
    -- probe of person per credit: 2.5 times as fast over the 1M-film catalogue.
    select c.film_id,
        json_agg(c.node order by c.billing_order nulls last, c.id)
            filter (where c.role = 'DIRECTOR') as directors,
        json_agg(c.node order by c.billing_order nulls last, c.id)
            filter (where c.role = 'WRITER') as writers,
        json_agg(c.node order by c.billing_order nulls last, c.id)
            filter (where c.role = 'ACTOR') as actors
    from (
        select c.film_id, c.role, c.billing_order, c.id, jsonld_person_node(p, $1::text) as node
        from credit c join person p on p.id = c.person_id
        where c.role in ('DIRECTOR', 'WRITER', 'ACTOR')
        order by c.film_id, c.billing_order nulls last, c.id
    ) c
    group by c.film_id
) people on people.film_id = f.id
left join (
    select o.film_id,
        json_agg(jsonld_watch_action(o, pr)
                 order by o.region, array_position(array['FREE', 'ADS', 'SUBSCRIPTION', 'RENT',
                          'BUY'], o.kind), o.price nulls first, o.provider_id, o.quality, o.id)
            as actions
    from offer o join provider pr on pr.id = o.provider_id
    where $2::text is null or o.region = $2::text
    group by o.film_id
) actions on actions.film_id = f.id
where $2::text is null or actions.film_id is not null
order by f.id;

-- name: export_snapshot
-- The snapshot of this (repeatable-read) transaction, for the export's other connections to
-- import with SET TRANSACTION SNAPSHOT.
select pg_export_snapshot();

-- name: export_chunk_settings
-- For the rest of a chunk transaction: $1 of memory for each sort and hash (a chunk's credits
-- sorted and its people hashed in memory rather than on disk), no parallel workers (the
-- export's own connections take the cores), and a plan made for each chunk's bounds.
select set_config('work_mem', $1::text, true),
    set_config('max_parallel_workers_per_gather', '0', true),
    set_config('plan_cache_mode', 'force_custom_plan', true);

-- name: film_chunk_starts
-- The first film id of each chunk of $1 films, in id order: a chunk runs from its start to the
-- next one's (the last to the end).
select id from (select id, row_number() over (order by id) as n from film) f
where (n - 1) % $1::bigint = 0
order by id;

-- name: films_jsonld_chunk
-- films_jsonld_feed for the films with $3 <= id < $4 only: each part reads only that range,
-- through an index that leads with film id (the range's credits sorted alone, its people
-- found by one hash join).
select film_jsonld_of(
    f, $1::text, genres.names, languages.language, people.directors, people.writers,
    people.actors, actions.actions)::text as document
from film f
left join (
    select fg.film_id, json_agg(g.name order by g.name) as names
    from film_genre fg join genre g on g.id = fg.genre_id
    where fg.film_id >= $3::bigint and fg.film_id < $4::bigint
    group by fg.film_id
) genres on genres.film_id = f.id
left join (
    select distinct on (a.film_id) a.film_id, a.language
    from film_alternative_title a
    where a.is_original and a.language is not null
        and a.film_id >= $3::bigint and a.film_id < $4::bigint
    order by a.film_id, a.ordering
) languages on languages.film_id = f.id
left join (
    select c.film_id,
        json_agg(c.node order by c.billing_order nulls last, c.id)
            filter (where c.role = 'DIRECTOR') as directors,
        json_agg(c.node order by c.billing_order nulls last, c.id)
            filter (where c.role = 'WRITER') as writers,
        json_agg(c.node order by c.billing_order nulls last, c.id)
            filter (where c.role = 'ACTOR') as actors
    from (
        select c.film_id, c.role, c.billing_order, c.id, jsonld_person_node(p, $1::text) as node
        from credit c join person p on p.id = c.person_id
        where c.role in ('DIRECTOR', 'WRITER', 'ACTOR')
            and c.film_id >= $3::bigint and c.film_id < $4::bigint
        order by c.film_id, c.billing_order nulls last, c.id
    ) c
    group by c.film_id
) people on people.film_id = f.id
left join (
    select o.film_id,
        json_agg(jsonld_watch_action(o, pr)
                 order by o.region, array_position(array['FREE', 'ADS', 'SUBSCRIPTION', 'RENT',
                          'BUY'], o.kind), o.price nulls first, o.provider_id, o.quality, o.id)
            as actions
    from offer o join provider pr on pr.id = o.provider_id
    where ($2::text is null or o.region = $2::text)
        and o.film_id >= $3::bigint and o.film_id < $4::bigint
    group by o.film_id
) actions on actions.film_id = f.id
where ($2::text is null or actions.film_id is not null)
    and f.id >= $3::bigint and f.id < $4::bigint
order by f.id;

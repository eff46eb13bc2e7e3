-- What every importer shares: the import lock (tried, or waited for), the watchdog's ping,
-- and genres.
-- Importers stream files into temporary staging tables (dropped at commit), then check and
-- merge them set-based. A check statement takes the number of rejects to list ($1) and the
-- file name ($2); it deletes the rows it rejects and returns one row: rejected (rows), skipped
-- (rows left out on purpose), and files, lines and reasons of the first $1 rejects.

-- name: import_lock_try
-- Take the import lock for this transaction, or learn at once that another import holds it.
select pg_try_advisory_xact_lock($1::bigint);

-- name: import_lock_wait_limit
-- Bound the wait of the next lock request in this transaction (lock_timeout, in ms as text).
select set_config('lock_timeout', $1::text, true);

-- name: import_lock_wait
-- Take the import lock for this transaction, waiting in the server's lock queue for it.
select pg_advisory_xact_lock($1::bigint);

-- name: import_lock_holder
-- The server process of the import holding the lock, for the "busy" and "waiting" messages.
select pid from pg_locks
where locktype = 'advisory' and granted
  and database = (select oid from pg_database where datname = current_database())
  and ((classid::bigint << 32) | objid::bigint) = $1::bigint;

-- name: import_ping
-- The watchdog's sign of life from the server.
select 1;

-- name: import_genre_stage_create
-- Genre names of films in this import, by the film's IMDb id.
create temp table import_genre_stage (
    imdb_id text not null,
    name    text not null
) on commit drop;

-- name: import_genres_insert
-- Add the staged genres the graph does not know yet; return how many.
with added as (
    insert into genre (slug, name)
    select distinct on (slugify(s.name)) slugify(s.name), s.name
    from import_genre_stage s
    where slugify(s.name) <> ''
      and not exists (select 1 from genre g where g.slug = slugify(s.name) or g.name = s.name)
    order by slugify(s.name), s.name
    on conflict do nothing
    returning 1
)
select count(*) from added;

-- name: import_genres_unchanged
-- How many distinct staged genres were already in the graph.
select count(distinct slugify(s.name)) from import_genre_stage s
where exists (select 1 from genre g where g.slug = slugify(s.name));

-- name: import_film_genres_insert
-- Link staged films to their genres; return links added and links staged.
with wanted as (
    select distinct f.id as film_id, g.id as genre_id
    from import_genre_stage s
    join film f on f.imdb_id = s.imdb_id
    join genre g on g.slug = slugify(s.name)
), added as (
    insert into film_genre (film_id, genre_id)
    select film_id, genre_id from wanted
    on conflict do nothing
    returning 1
)
select (select count(*) from added) as inserted, (select count(*) from wanted) as total;

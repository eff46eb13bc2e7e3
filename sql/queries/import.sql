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

-- name: import_idle_limit
-- How long the server lets this session sit idle in its transaction before ending it
-- (idle_in_transaction_session_timeout, in ms; 0: no limit). An import waiting for its readers
-- says a word within a third of it (import_keepalive).
select setting::bigint from pg_settings where name = 'idle_in_transaction_session_timeout';

-- name: import_keepalive
-- An import's sign of life in its transaction while it waits for its readers.
select 1;

-- name: import_genre_stage_create
-- Genre names of films in this import, by the film's IMDb id; a null name for each film the
-- file mentions (one with no genres too), so its genre links are brought in line.
create temp table import_genre_stage (
    imdb_id text not null,
    name    text
) on commit drop;

-- name: import_genres_insert
-- Add the staged genres the graph does not know yet; return how many. (Each statement here
-- slugs the few distinct names, not the staged rows: 245,000 rows at a tenth of IMDb.)
with added as (
    insert into genre (slug, name)
    select distinct on (slugify(s.name)) slugify(s.name), s.name
    from (select distinct name from import_genre_stage) s
    where slugify(s.name) <> ''
      and not exists (select 1 from genre g where g.slug = slugify(s.name) or g.name = s.name)
    order by slugify(s.name), s.name
    on conflict do nothing
    returning 1
)
select count(*) from added;

-- name: import_genres_unchanged
-- How many distinct staged genres were already in the graph.
select count(distinct slugify(s.name)) from (select distinct name from import_genre_stage) s
where exists (select 1 from genre g where g.slug = slugify(s.name));

-- name: import_genre_link_stage_create
-- The genre links the staged films are to have, for the inserts below.
create temp table import_genre_link_stage (
    film_id  bigint not null,
    genre_id bigint not null
) on commit drop;

-- name: import_genre_links_stage
-- The staged films' genre links: their genres, by slug.
insert into import_genre_link_stage (film_id, genre_id)
with named as (
    select n.name, slugify(n.name) as slug
    from (select distinct name from import_genre_stage where name is not null) n
)
select distinct f.id as film_id, g.id as genre_id
from import_genre_stage s
join film f on f.imdb_id = s.imdb_id
join named n on n.name = s.name
join genre g on g.slug = n.slug;

-- name: import_film_genres_insert
-- Link staged films to their genres (import_genre_link_stage), noting source $1 on each link;
-- return links added and links staged.
with merged as (
    -- The links a re-import finds there already, from $1, are left out by one anti-join,
    -- where the insert would probe the key for each (as imdb_credits_merge does).
    insert into film_genre (film_id, genre_id, sources)
    select w.film_id, w.genre_id, array[$1::text] from import_genre_link_stage w
    where not exists (select 1 from film_genre fg
                      where fg.film_id = w.film_id and fg.genre_id = w.genre_id
                        and $1::text = any(fg.sources))
    on conflict (film_id, genre_id) do update set sources = film_genre.sources || $1::text
    where not $1::text = any(film_genre.sources)
    returning (xmax = 0) as inserted
)
select (select count(*) from merged where inserted) as inserted,
       (select count(*) from import_genre_link_stage) as total;

-- name: import_film_genres_insert_new
-- import_film_genres_insert for films that are all new, into a film_genre without its keys
-- (an IMDb first load: imdb_first_load_drop_film_genre_keys): every link is inserted, none
-- looked for; returns links added and links staged.
with added as (
    insert into film_genre (film_id, genre_id, sources)
    select film_id, genre_id, array[$1::text] from import_genre_link_stage
    returning 1
)
select (select count(*) from added) as inserted,
       (select count(*) from import_genre_link_stage) as total;

-- name: import_film_genres_prune
-- The genre links of the staged films that source $1 gave and no longer lists: a link only
-- $1 gave goes, one that another source also gave loses $1. Returns the links removed and
-- the genres they were to (for import_genres_prune).
with mentioned as (
    select distinct f.id
    from import_genre_stage s join film f on f.imdb_id = s.imdb_id
), named as (
    select n.name, slugify(n.name) as slug
    from (select distinct name from import_genre_stage where name is not null) n
), listed as (
    select distinct f.id as film_id, g.id as genre_id
    from import_genre_stage s
    join film f on f.imdb_id = s.imdb_id
    join named n on n.name = s.name
    join genre g on g.slug = n.slug
), unlisted as (
    select fg.film_id, fg.genre_id, fg.sources = array[$1::text] as only
    from film_genre fg
    where fg.film_id in (select id from mentioned)
      and $1::text = any(fg.sources)
      and not exists (select 1 from listed l
                      where l.film_id = fg.film_id and l.genre_id = fg.genre_id)
), gone as (
    delete from film_genre fg using unlisted u
    where u.only and fg.film_id = u.film_id and fg.genre_id = u.genre_id
    returning fg.genre_id
), kept as (
    update film_genre fg set sources = array_remove(fg.sources, $1::text)
    from unlisted u
    where not u.only and fg.film_id = u.film_id and fg.genre_id = u.genre_id
)
select (select count(*) from gone) as deleted,
       coalesce((select array_agg(distinct genre_id) from gone), '{}') as genres;

-- name: import_genres_prune
-- Of the genres ($1) that an import has just unlinked films from, those no film has any more:
-- a genre only a damaged line named ("Dr") goes with its last link. Returns how many.
with gone as (
    delete from genre g
    where g.id = any($1::bigint[])
      and not exists (select 1 from film_genre fg where fg.genre_id = g.id)
    returning 1
)
select count(*) from gone;

-- name: import_server_process
-- The server process of this connection and the server's data directory: the importer lowers
-- that process's CPU priority when it runs on this machine (graph/importers/priority.py).
select pg_backend_pid() as pid, current_setting('data_directory') as data_directory;

-- name: import_tally_add
-- Adds one import's rows ($1 tables, $2 outcomes, $3 counts, in step) to the totals that
-- /metrics reports (filmgraph_import_rows_total), in the import's transaction.
insert into import_tally (table_name, outcome, rows)
select t, o, n from unnest($1::text[], $2::text[], $3::bigint[]) as u(t, o, n)
where n > 0
on conflict (table_name, outcome) do update set rows = import_tally.rows + excluded.rows;

-- name: import_tally
-- The totals of import_tally_add, for /metrics.
select table_name, outcome, rows from import_tally order by table_name, outcome;

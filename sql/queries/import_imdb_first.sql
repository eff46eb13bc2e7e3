-- `filmgraph import imdb` into an empty graph: the first load. With nothing to serve yet, the
-- import takes the graph's tables for its transaction, drops the indexes and constraints that
-- would be kept up row by row, inserts (nothing can conflict or be left to prune), and builds
-- them again in one pass each before it commits. Same statements as the schema (sql/schema.sql;
-- tests/test_import_first_load.py compares the schema after a first load with it), same rows
-- as the path for a graph that has data.

-- name: imdb_first_load_lock
-- Take the tables a first load rebuilds, for this transaction: readers wait for its commit.
-- film_genre and genre too: dropping film_genre's keys (imdb_first_load_drop_film_genre_keys)
-- takes both, here rather than midway, in one statement with the rest; collaborator_hub too,
-- whose key to person goes with person's (imdb_first_load_drop_hub_key), and credit_tally,
-- whose key goes too (imdb_first_load_drop_credit_tally_key).
lock table film, person, credit, film_alternative_title, film_genre, genre, collaborator_hub,
    credit_tally in access exclusive mode;

-- name: imdb_graph_empty
-- Whether the graph holds no film, person, credit or alternative title yet.
select not exists (select 1 from film) and not exists (select 1 from person)
       and not exists (select 1 from credit) and not exists (select 1 from film_alternative_title);

-- name: imdb_first_load_memory
-- Memory for building the indexes again, and for the sorts and hashes of the inserts (a
-- million credits sorted for their distinct keys, then counted per person and role), for this
-- transaction: with nothing to serve, the import may use what readers would otherwise have.
-- 256MB: the credits' distinct sort and their hash of people, and the digests' counts, fit
-- in memory at a tenth of IMDb (at 64MB each spilled 80-100 MB to disk).
select set_config('maintenance_work_mem', '256MB', true), set_config('work_mem', '256MB', true);

-- name: imdb_first_load_drop_indexes
-- The secondary indexes of the tables a first load fills.
drop index film_rating_idx, film_runtime_idx, film_search_vector_idx, film_title_idx,
    film_title_prefix_idx, film_votes_idx, film_year_idx, person_name_idx,
    person_name_prefix_idx, person_name_words_idx, credit_person_role_idx,
    credit_filmography_idx, film_genre_genre_id_idx;

-- name: imdb_first_load_drop_person_keys
-- All of person's keys: its primary key, and tmdb_id's and wikidata_id's, kept up for each
-- row inserted though all null, took 1.3 and 0.9 s of the 3 s of inserting the people of a
-- tenth of IMDb (built again at the end in 0.2 s). After imdb_first_load_drop_credit_keys and
-- imdb_first_load_drop_hub_key: their foreign keys need the primary key.
alter table person drop constraint person_imdb_id_key, drop constraint person_slug_key,
    drop constraint person_pkey, drop constraint person_tmdb_id_key,
    drop constraint person_wikidata_id_key;

-- name: imdb_first_load_drop_hub_key
-- Needs person's primary key: dropped with it, added again after it.
alter table collaborator_hub drop constraint collaborator_hub_person_id_fkey;

-- name: imdb_first_load_drop_credit_keys
-- credit's primary key too: kept up row by row, 0.8 of the 2.4 s of inserting the credits of
-- a tenth of IMDb.
alter table credit drop constraint credit_film_id_fkey, drop constraint credit_person_id_fkey,
    drop constraint credit_film_id_role_person_id_key, drop constraint credit_pkey;

-- name: imdb_first_load_drop_film_genre_keys
-- film_genre's keys and index, kept up link by link (its keys checking each link's film and
-- genre by a lookup), took 2.4 s for 160,000 links at a tenth of IMDb; with nothing to
-- conflict with (no film, no link), import_film_genres_insert_new inserts without them.
alter table film_genre drop constraint film_genre_film_id_fkey,
    drop constraint film_genre_genre_id_fkey, drop constraint film_genre_pkey;

-- name: imdb_first_load_person_words_off
-- Trigger person_words_insert remembers the words of the names written: it folds each name
-- again, the first load's insert having folded it for its slug. imdb_people_insert_first
-- remembers them from that fold itself; the trigger is back on before the commit
-- (imdb_first_load_person_words_on).
alter table person disable trigger person_words_insert;

-- name: imdb_first_load_person_words_on
alter table person enable trigger person_words_insert;

-- name: imdb_first_load_credit_trigger_off
-- The credits a first load inserts carry their film's sort key from the insert's own join
-- (imdb_credits_insert_first), so migration 0009's per-row trigger, one film lookup per credit,
-- is left out until imdb_first_load_credit_trigger_on, before the commit; so is its tally of
-- credits per person and role, which would keep every new credit in a transition table, and
-- is counted once at the end (imdb_first_load_credit_tally). Transactional, and the tables are
-- this transaction's: nobody else writes a credit meanwhile. Likewise migration 0019's count
-- of the busiest people's collaborations, which reads every touched film's credits again:
-- counted once at the end (imdb_first_load_collaborations).
alter table credit disable trigger credit_film_key, disable trigger credit_tally_insert,
    disable trigger credit_to_collaboration_insert;

-- name: imdb_first_load_credit_trigger_on
alter table credit enable trigger credit_film_key, enable trigger credit_tally_insert,
    enable trigger credit_to_collaboration_insert;

-- name: imdb_first_load_drop_person_stage_key
-- The people's stage is filled by imdb_people_stage one row per IMDb id (DISTINCT ON) and read
-- whole by imdb_people_insert_first: its key, kept up row by row, took 0.7 of 3.5 s of the
-- filling at a tenth of IMDb, and is of no use to a first load. A temporary table's: gone at
-- the commit anyway.
alter table imdb_person_stage drop constraint imdb_person_stage_pkey;

-- name: imdb_first_load_credit_tally_clear
-- Into an empty graph, every credit_tally row is one a deletion left at 0 (a new graph has
-- none): removed, so that imdb_first_load_credit_tally inserts without ON CONFLICT, which
-- probed the key for each of a million rows (5.7 s of 6 at a tenth of IMDb, against 2.7 s).
delete from credit_tally;

-- name: imdb_first_load_drop_credit_tally_key
-- Kept up row by row, credit_tally's key took 0.9 of the 2.8 s of counting a tenth of IMDb's
-- credits; built again after the count (imdb_first_load_credit_tally_key). Dropped just
-- before it, not with the rest: until then the statement triggers on credit (those of its
-- updates, when films change) insert into credit_tally on conflict of that key.
alter table credit_tally drop constraint credit_tally_pkey;

-- name: imdb_first_load_credit_tally
-- What trigger credit_tally_insert would have counted: the first load's credits, by person and
-- role (in no order: the key is built afterwards).
insert into credit_tally (person_id, role, films)
select person_id, role, count(*) from credit group by person_id, role;

-- name: imdb_first_load_credit_tally_key
alter table credit_tally add constraint credit_tally_pkey primary key (person_id, role);

-- name: imdb_first_load_collaborations
-- What trigger credit_to_collaboration_insert would have counted: the hubs chosen by their
-- credits (credit_tally, counted above) and their collaborations (migration 0019). Run once
-- credit's indexes are back: the count reads each hub's films by their credits.
select collaborations_recount();

-- name: imdb_first_load_drop_alternative_title_keys
alter table film_alternative_title drop constraint film_alternative_title_film_id_fkey,
    drop constraint film_alternative_title_pkey;

-- name: imdb_people_insert_first
-- imdb_people_insert into an empty graph: no slug is taken yet. Each name is folded once, for
-- its slug (slugify) and its words (search_words), which trigger person_words_insert would
-- have remembered (it is off for a first load: imdb_first_load_person_words_off). A plain
-- INSERT, its count in its command status: a CTE's RETURNING kept every row in a tuplestore.
with folded as materialized (
    select s.*, fold(s.name) as folded from imdb_person_stage s
), ranked as (
    select s.*, row_number() over (partition by base order by imdb_id) as rn
    from (select s.*,
                 coalesce(nullif(btrim(regexp_replace(s.folded, '[^a-z0-9]+', '-', 'g'), '-'),
                                 ''), 'person') as base
          from folded s) s
), words as (
    insert into search_word (word, in_names)
    select w, true
    from (select distinct unnest(tsvector_to_array(to_tsvector('simple', f.folded))) as w
          from folded f) words
    where not exists (select 1 from search_word s where s.word = words.w and s.in_names)
    order by w
    on conflict (word) do update set in_names = true where not search_word.in_names
)
insert into person (slug, name, birth_year, death_year, imdb_id)
select case when rn = 1 then base else base || '-' || imdb_id end,
       name, birth_year, death_year, imdb_id
from ranked;

-- name: imdb_credits_insert_first
-- imdb_credits_merge into an empty graph: every credit is new (how many: the command
-- status). The film's sort key is copied here, as trigger credit_film_key would (it is off for
-- a first load). One credit per film, role and person (a film or person per IMDb id, so the
-- same as per tconst, role and nconst): sorted after the joins, by their integer ids, not
-- before them by the text ids (0.2 of 3.6 s at a tenth of IMDb).
insert into credit (
    film_id, person_id, role, character_name, billing_order, film_year, film_release_date,
    film_title
)
select distinct on (f.id, c.role, p.id)
       f.id, p.id, c.role, c.character_name, c.billing_order, f.year, f.release_date, f.title
from imdb_credit_stage c
join film f on f.imdb_id = c.tconst
join person p on p.imdb_id = c.nconst
order by f.id, c.role, p.id, c.source, c.billing_order nulls last, c.line;

-- name: imdb_akas_insert_first
-- imdb_akas_merge into an empty graph: every alternative title is new (how many: the command
-- status).
insert into film_alternative_title (
    film_id, ordering, title, region, language, types, attributes, is_original
)
select distinct on (a.titleid, a.ordering::integer)
       f.id, a.ordering::integer, btrim(a.title), nullif(a.region, '\N'),
       nullif(a.language, '\N'),
       coalesce(string_to_array(nullif(a.types, '\N'), chr(2)), '{}'),
       coalesce(string_to_array(nullif(a.attributes, '\N'), chr(2)), '{}'),
       a.isoriginaltitle = '1'
from imdb_aka_stage a
join film f on f.imdb_id = a.titleid
order by a.titleid, a.ordering::integer, a.line desc;

-- name: imdb_first_load_film_rating_idx
create index film_rating_idx on film (coalesce(imdb_rating, (-1)::numeric), id)
    include (year, runtime_minutes, imdb_rating, imdb_votes, certification);

-- name: imdb_first_load_film_runtime_idx
create index film_runtime_idx on film (coalesce(runtime_minutes, -1), id)
    include (year, runtime_minutes, imdb_rating, imdb_votes, certification);

-- name: imdb_first_load_film_search_vector_idx
create index film_search_vector_idx on film using gin (search_vector);

-- name: imdb_first_load_film_title_idx
create index film_title_idx on film (title, id)
    include (year, runtime_minutes, imdb_rating, imdb_votes, certification);

-- name: imdb_first_load_film_title_prefix_idx
create index film_title_prefix_idx on film (fold(title) collate "C", imdb_votes);

-- name: imdb_first_load_film_votes_idx
create index film_votes_idx on film (coalesce(imdb_votes, -1), id)
    include (year, runtime_minutes, imdb_rating, imdb_votes, certification);

-- name: imdb_first_load_film_year_idx
create index film_year_idx on film (coalesce(year, 0), id)
    include (year, runtime_minutes, imdb_rating, imdb_votes, certification);

-- name: imdb_first_load_film_genre_keys
alter table film_genre add constraint film_genre_pkey primary key (film_id, genre_id),
    add constraint film_genre_film_id_fkey foreign key (film_id) references film (id)
        on delete cascade,
    add constraint film_genre_genre_id_fkey foreign key (genre_id) references genre (id)
        on delete cascade;

-- name: imdb_first_load_film_genre_genre_idx
create index film_genre_genre_id_idx on film_genre (genre_id, film_id);

-- name: imdb_first_load_person_keys
alter table person add constraint person_pkey primary key (id),
    add constraint person_imdb_id_key unique (imdb_id),
    add constraint person_slug_key unique (slug),
    add constraint person_tmdb_id_key unique (tmdb_id),
    add constraint person_wikidata_id_key unique (wikidata_id);

-- name: imdb_first_load_hub_key
alter table collaborator_hub add constraint collaborator_hub_person_id_fkey
    foreign key (person_id) references person (id) on delete cascade;

-- name: imdb_first_load_person_name_idx
create index person_name_idx on person (name, id);

-- name: imdb_first_load_person_name_prefix_idx
create index person_name_prefix_idx on person (fold(name) collate "C");

-- name: imdb_first_load_person_name_words_idx
create index person_name_words_idx on person using gin (to_tsvector('simple', fold(name)));

-- name: imdb_first_load_credit_keys
alter table credit add constraint credit_pkey primary key (id),
    add constraint credit_film_id_role_person_id_key
        unique (film_id, role, person_id),
    add constraint credit_film_id_fkey foreign key (film_id) references film (id)
        on delete cascade,
    add constraint credit_person_id_fkey foreign key (person_id) references person (id)
        on delete cascade;

-- name: imdb_first_load_credit_person_role_idx
create index credit_person_role_idx on credit (person_id, role, film_id);

-- name: imdb_first_load_credit_filmography_idx
-- As migration 0009 made it.
create index credit_filmography_idx on credit (
    person_id, role, film_year desc nulls last, film_release_date desc nulls last, film_title,
    film_id
);

-- name: imdb_first_load_alternative_title_keys
alter table film_alternative_title add constraint film_alternative_title_pkey
        primary key (film_id, ordering),
    add constraint film_alternative_title_film_id_fkey foreign key (film_id)
        references film (id) on delete cascade;

-- name: imdb_first_load_drop_digest_key
-- The digests of a first load are stored (imdb_digests_store_*) without their key, built again
-- after them (imdb_first_load_digest_key): kept up row by row, it took 0.45 of the 1.3 s of
-- storing the digests of a tenth of IMDb's people. Only imports, one at a time, read
-- imdb_digest.
alter table imdb_digest drop constraint imdb_digest_pkey;

-- name: imdb_first_load_digest_key
alter table imdb_digest add constraint imdb_digest_pkey primary key (file, imdb_id);

-- name: imdb_first_load_analyze
-- Statistics for the API's plans of the tables just filled.
analyze film, person, credit, film_alternative_title, film_genre;

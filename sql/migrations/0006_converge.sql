-- One-time repair: a database migrated at any earlier commit of main comes out as a fresh one.
--
-- Migrations 0001, 0002, 0003 and 0005 were edited after they had landed. schema_migration
-- recorded only their numbers, so a database that had applied an earlier text never saw the
-- later one: it could lack search_word, typo_query() and film_tally, or carry the triggers of
-- an older design. This migration redoes, idempotently, everything those edits changed, and
-- drops what they removed. On a database migrated from the final texts it changes nothing
-- and rebuilds no index. From now on filmgraph records each migration's sha256 when it
-- applies it, and refuses to run when the file of an applied migration has changed; a
-- function redefined later appears in full in its new migration.
--
-- tests/test_migration_history.py replays every state sql/migrations had on main, then this,
-- and compares the schema with a fresh database's.

-- 0001 before 591a81f: the credit and offer unique constraints had another column order, each
-- with an index beside it that the new order made redundant. provider_name_idx came later.
alter table credit drop constraint if exists credit_film_id_person_id_role_key;
drop index if exists credit_film_role_idx;
alter table offer drop constraint if exists offer_film_id_provider_id_region_kind_quality_key;
drop index if exists offer_film_region_idx;
do $$
begin
    if not exists (select 1 from pg_constraint
                   where conrelid = 'credit'::regclass
                     and conname = 'credit_film_id_role_person_id_key') then
        alter table credit add constraint credit_film_id_role_person_id_key
            unique (film_id, role, person_id);
    end if;
    if not exists (select 1 from pg_constraint
                   where conrelid = 'offer'::regclass
                     and conname = 'offer_film_id_region_kind_provider_id_quality_key') then
        alter table offer add constraint offer_film_id_region_kind_provider_id_quality_key
            unique nulls not distinct (film_id, region, kind, provider_id, quality);
    end if;
end $$;
create index if not exists provider_name_idx on provider (name, id);

-- 0002 before f9d7790: no name_match(), and a trigram index on original titles.
create or replace function name_match(name text, q text) returns float8
    language sql immutable parallel safe strict
    return greatest(similarity(fold(name), q), word_similarity(q, fold(name)));
drop index if exists film_original_title_trgm_idx;

-- 0003 before f534ce2: the order indexes of films carried only their own column (or, for
-- titles, none). Today's carry five (2 key columns + 5 included = 7 attributes).
do $$
begin
    if (select indnatts from pg_index where indexrelid = 'film_title_idx'::regclass) <> 7 then
        drop index film_title_idx;
        create index film_title_idx on film (title, id)
            include (year, runtime_minutes, imdb_rating, imdb_votes, certification);
    end if;
    if (select indnatts from pg_index where indexrelid = 'film_year_idx'::regclass) <> 7 then
        drop index film_year_idx;
        create index film_year_idx on film ((coalesce(year, 0)), id)
            include (year, runtime_minutes, imdb_rating, imdb_votes, certification);
    end if;
    if (select indnatts from pg_index where indexrelid = 'film_rating_idx'::regclass) <> 7 then
        drop index film_rating_idx;
        create index film_rating_idx on film ((coalesce(imdb_rating, -1)), id)
            include (year, runtime_minutes, imdb_rating, imdb_votes, certification);
    end if;
    if (select indnatts from pg_index where indexrelid = 'film_votes_idx'::regclass) <> 7 then
        drop index film_votes_idx;
        create index film_votes_idx on film ((coalesce(imdb_votes, -1)), id)
            include (year, runtime_minutes, imdb_rating, imdb_votes, certification);
    end if;
    if (select indnatts from pg_index where indexrelid = 'film_runtime_idx'::regclass) <> 7 then
        drop index film_runtime_idx;
        create index film_runtime_idx on film ((coalesce(runtime_minutes, -1)), id)
            include (year, runtime_minutes, imdb_rating, imdb_votes, certification);
    end if;
end $$;

-- 0003 before 4013e14: two dictionaries (title_word, name_word) and their triggers and
-- queries, where there is now one search_word and typo_query().
drop trigger if exists film_title_words_insert on film;
drop trigger if exists film_title_words_update on film;
drop trigger if exists person_name_words_insert on person;
drop trigger if exists person_name_words_update on person;
drop function if exists remember_title_words();
drop function if exists remember_name_words();
drop function if exists title_query(text);
drop function if exists name_query(text);
drop table if exists title_word;
drop table if exists name_word;

-- The functions of 0003 as they are today, in full (CREATE OR REPLACE keeps their identity,
-- so what depends on them stays valid).
create or replace function changed_rows(op text, columns text) returns text
    language sql immutable parallel safe
    return case op
        when 'INSERT' then format('select %s, 1 as n from new_rows', columns)
        when 'DELETE' then format('select %s, -1 as n from old_rows', columns)
        else format('select %1$s, 1 as n from new_rows union all '
                    'select %1$s, -1 as n from old_rows', columns)
    end;

create or replace function search_words(text) returns text[]
    language sql immutable parallel safe strict
    return tsvector_to_array(to_tsvector('simple', fold($1)));

create or replace function written_rows(op text, columns text[]) returns text
    language sql immutable parallel safe
    return case op
        when 'INSERT' then 'new_rows n'
        else format('new_rows n join old_rows o on o.id = n.id where (%s) is distinct from (%s)',
                    array_to_string(array(select 'n.' || c from unnest(columns) c), ', '),
                    array_to_string(array(select 'o.' || c from unnest(columns) c), ', '))
    end;

-- The tables the triggers below write: a database from before c279588 has no film_tally, one
-- from before 4013e14 no search_word. Each is filled further down, once its triggers hold the
-- writers of film, film_genre and person back until this migration commits.
create table if not exists film_tally (
    facet  text not null check (facet in ('year', 'runtime', 'rating', 'genre')),
    value  numeric not null,
    films  bigint not null
);
-- From c279588 to 4eb0d30 the tally was one counter row per (facet, value), under a primary
-- key. Those rows are valid entries of today's ledger; only the key goes.
alter table film_tally drop constraint if exists film_tally_pkey;
create index if not exists film_tally_facet_value_idx on film_tally (facet, value)
    include (films);

create table if not exists search_word (
    word       text primary key,
    in_titles  boolean not null default false,
    in_names   boolean not null default false
);
-- 4013e14 had one trigram index for both vocabularies.
drop index if exists search_word_trgm_idx;
create index if not exists search_word_title_trgm_idx on search_word using gin (word gin_trgm_ops)
    where in_titles;
create index if not exists search_word_name_trgm_idx on search_word using gin (word gin_trgm_ops)
    where in_names;

create or replace function tally_films() returns trigger
    language plpgsql set search_path from current as $$
begin
    execute format($q$
        insert into film_tally (facet, value, films)
        select v.facet, v.value, sum(r.n)
        from (%s) r
        cross join lateral (values ('year', r.year::numeric),
                                   ('runtime', r.runtime_minutes::numeric),
                                   ('rating', r.imdb_rating)) v(facet, value)
        where v.value is not null
        group by v.facet, v.value
        having sum(r.n) <> 0
        $q$, changed_rows(tg_op, 'year, runtime_minutes, imdb_rating'));
    return null;
end $$;

create or replace function tally_genres() returns trigger
    language plpgsql set search_path from current as $$
begin
    execute format($q$
        insert into film_tally (facet, value, films)
        select 'genre', r.genre_id, sum(r.n)
        from (%s) r
        group by r.genre_id
        having sum(r.n) <> 0
        $q$, changed_rows(tg_op, 'genre_id'));
    return null;
end $$;

create or replace function forget_tallies() returns trigger
    language plpgsql set search_path from current as $$
begin
    if tg_table_name = 'film' then
        delete from film_tally where facet in ('year', 'runtime', 'rating');
    else
        delete from film_tally where facet = 'genre';
    end if;
    return null;
end $$;

create or replace function compact_film_tally() returns bigint
    language sql set search_path from current
begin atomic
    with taken as (delete from film_tally returning facet, value, films),
         folded as (
             insert into film_tally (facet, value, films)
             select facet, value, sum(films) from taken
             group by facet, value having sum(films) <> 0
             returning 1
         )
    select (select count(*) from taken) - (select count(*) from folded);
end;

create or replace function remember_words() returns trigger
    language plpgsql set search_path from current as $$
begin
    if tg_table_name = 'film' then
        execute format($q$
            insert into search_word (word, in_titles)
            select w, true
            from (select distinct unnest(search_words(n.title)
                                         || coalesce(search_words(n.original_title), '{}')) as w
                  from %s) words
            where not exists (select 1 from search_word s where s.word = words.w and s.in_titles)
            order by w
            on conflict (word) do update set in_titles = true where not search_word.in_titles
            $q$, written_rows(tg_op, '{title, original_title}'));
    else
        execute format($q$
            insert into search_word (word, in_names)
            select w, true
            from (select distinct unnest(search_words(n.name)) as w from %s) words
            where not exists (select 1 from search_word s where s.word = words.w and s.in_names)
            order by w
            on conflict (word) do update set in_names = true where not search_word.in_names
            $q$, written_rows(tg_op, '{name}'));
    end if;
    return null;
end $$;

create or replace function typo_candidates(typed text, names boolean) returns setof text
    language sql stable parallel safe strict
begin atomic
    (select d.word from search_word d
     where not names and d.in_titles and d.word operator(public.%) typed
       and abs(length(d.word) - length(typed)) <= 2
     order by public.similarity(d.word, typed) desc, d.word
     limit 5)
    union
    (select d.word from search_word d
     where names and d.in_names and d.word operator(public.%) typed
       and abs(length(d.word) - length(typed)) <= 2
     order by public.similarity(d.word, typed) desc, d.word
     limit 5)
    union
    select d.word from search_word d
    where (case when names then d.in_names else d.in_titles end)
      and d.word = any (array(
          select overlay(typed placing substr(typed, i + 1, 1) || substr(typed, i, 1)
                         from i for 2)
          from generate_series(1, length(typed) - 1) as i));
end;

create or replace function typo_query(q text, names boolean) returns tsquery
    language sql stable parallel safe strict
begin atomic
    select tsquery_all(alternatives)
    from (
        select tsquery_any(plainto_tsquery('simple', m.word)) as alternatives
        from unnest(search_words(q)) as typed(word)
        cross join lateral (
            select typed.word, false
            union
            select c.word, true from typo_candidates(typed.word, names) as c(word)
        ) as m(word, known)
        group by typed.word
        having bool_or(m.known)
            or (not names and exists (
                select 1 from film f
                where f.search_vector @@ plainto_tsquery('simple', typed.word)))
    ) as per_word;
end;

-- The triggers as they are today (before eaa40a3 the update triggers of the dictionary saw
-- only the new rows). Replacing a trigger takes the lock that holds writers back.
create or replace trigger film_tally_insert after insert on film
    referencing new table as new_rows for each statement execute function tally_films();
create or replace trigger film_tally_update after update on film
    referencing old table as old_rows new table as new_rows
    for each statement execute function tally_films();
create or replace trigger film_tally_delete after delete on film
    referencing old table as old_rows for each statement execute function tally_films();
create or replace trigger film_tally_truncate after truncate on film
    for each statement execute function forget_tallies();
create or replace trigger genre_tally_insert after insert on film_genre
    referencing new table as new_rows for each statement execute function tally_genres();
create or replace trigger genre_tally_update after update on film_genre
    referencing old table as old_rows new table as new_rows
    for each statement execute function tally_genres();
create or replace trigger genre_tally_delete after delete on film_genre
    referencing old table as old_rows for each statement execute function tally_genres();
create or replace trigger genre_tally_truncate after truncate on film_genre
    for each statement execute function forget_tallies();
create or replace trigger film_words_insert after insert on film
    referencing new table as new_rows for each statement execute function remember_words();
create or replace trigger film_words_update after update on film
    referencing old table as old_rows new table as new_rows
    for each statement execute function remember_words();
create or replace trigger person_words_insert after insert on person
    referencing new table as new_rows for each statement execute function remember_words();
create or replace trigger person_words_update after update on person
    referencing old table as old_rows new table as new_rows
    for each statement execute function remember_words();

-- Derived data for the rows that were there before the tables kept it. A table its triggers
-- kept is empty only when there is nothing to count or remember, so an empty one is filled
-- (a full rebuild) and a kept one left alone. With the triggers replaced above, no write can
-- slip in between the fill and the commit.
do $$
begin
    if not exists (select 1 from film_tally) then
        insert into film_tally (facet, value, films)
        select v.facet, v.value, count(*)
        from film f
        cross join lateral (values ('year', f.year::numeric),
                                   ('runtime', f.runtime_minutes::numeric),
                                   ('rating', f.imdb_rating)) v(facet, value)
        where v.value is not null
        group by v.facet, v.value;
        insert into film_tally (facet, value, films)
        select 'genre', genre_id, count(*) from film_genre group by genre_id;
    end if;
    if not exists (select 1 from search_word) then
        insert into search_word (word, in_titles, in_names)
        select w, bool_or(in_titles), bool_or(in_names)
        from (
            select unnest(search_words(title) || coalesce(search_words(original_title), '{}')),
                   true, false
            from film
            union all
            select unnest(search_words(name)), false, true from person
        ) t(w, in_titles, in_names)
        group by w;
    end if;
end $$;

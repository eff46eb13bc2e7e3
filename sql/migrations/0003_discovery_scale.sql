-- Discovery at 1M films: indexes that let counts and filters be answered from the index alone.

-- Every order index of films carries the columns that filters test (year, runtime, rating,
-- votes, certification). Two things follow:
-- * A filtered page picks its ids by an index-only walk in the order's index (see page_sql in
--   graph/discovery.py), testing each film on the index entry, and reads only the rows of the
--   page. "Documentaries from the 2000s rated 7.5 or more on a US subscription" walks 40,000
--   films at 1M to fill a page; reading each walked row from the table took 40-80 ms.
-- * A range filter is written on the never-null sort expression (coalesce(year, 0) and so
--   on), which the index on that expression answers. PostgreSQL only plans an index-only scan
--   when the index also holds every plain column the query mentions, so an exact count of
--   "films from the 2000s" read 70,000 table rows at 1M films; now it reads none.
drop index film_title_idx;
create index film_title_idx on film (title, id)
    include (year, runtime_minutes, imdb_rating, imdb_votes, certification);
drop index film_year_idx;
create index film_year_idx on film ((coalesce(year, 0)), id)
    include (year, runtime_minutes, imdb_rating, imdb_votes, certification);
drop index film_rating_idx;
create index film_rating_idx on film ((coalesce(imdb_rating, -1)), id)
    include (year, runtime_minutes, imdb_rating, imdb_votes, certification);
drop index film_votes_idx;
create index film_votes_idx on film ((coalesce(imdb_votes, -1)), id)
    include (year, runtime_minutes, imdb_rating, imdb_votes, certification);
drop index film_runtime_idx;
create index film_runtime_idx on film ((coalesce(runtime_minutes, -1)), id)
    include (year, runtime_minutes, imdb_rating, imdb_votes, certification);

-- Facet tallies: how many films have each year, runtime, rating and genre. An exact count of
-- a one-facet filter ("films from the 2000s", "documentaries") then reads a few tally rows
-- instead of one index entry per matching film (136,000 for documentaries at 1M films).
-- Counts of combined filters still count the films themselves.
--
-- The tally is a ledger: statement-level triggers append each statement's changes as
-- (facet, value, +n or -n) rows in the writing transaction (COPY included), and readers sum
-- them. Appending takes no row locks, so concurrent writers never wait for each other here
-- and cannot deadlock, as they could on shared counter rows. compact_film_tally() folds the
-- ledger into one row per value; filmgraph runs it after each bulk load, and counts are exact
-- either way, only slower as the ledger grows.
create table film_tally (
    facet  text not null check (facet in ('year', 'runtime', 'rating', 'genre')),
    value  numeric not null,
    films  bigint not null
);
create index film_tally_facet_value_idx on film_tally (facet, value) include (films);

-- The rows a statement wrote (+1) and removed (-1), as fixed SQL over its transition tables
-- (which EXECUTE in the trigger function can read).
create function changed_rows(op text, columns text) returns text
    language sql immutable parallel safe
    return case op
        when 'INSERT' then format('select %s, 1 as n from new_rows', columns)
        when 'DELETE' then format('select %s, -1 as n from old_rows', columns)
        else format('select %1$s, 1 as n from new_rows union all '
                    'select %1$s, -1 as n from old_rows', columns)
    end;

-- Trigger functions resolve names with the search_path they were created with, not the
-- writer's (a restore sets search_path to '', and a writer's own schema could shadow ours).
create function tally_films() returns trigger
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

create function tally_genres() returns trigger
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

-- TRUNCATE fires no row events: forget the table's tallies instead.
create function forget_tallies() returns trigger
    language plpgsql set search_path from current as $$
begin
    if tg_table_name = 'film' then
        delete from film_tally where facet in ('year', 'runtime', 'rating');
    else
        delete from film_tally where facet = 'genre';
    end if;
    return null;
end $$;

-- Fold the ledger into one row per (facet, value); returns the rows folded away. Safe beside
-- writers (they only append) and beside another compaction (each folds only the rows its own
-- DELETE took).
create function compact_film_tally() returns bigint
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

create trigger film_tally_insert after insert on film
    referencing new table as new_rows for each statement execute function tally_films();
create trigger film_tally_update after update on film
    referencing old table as old_rows new table as new_rows
    for each statement execute function tally_films();
create trigger film_tally_delete after delete on film
    referencing old table as old_rows for each statement execute function tally_films();
create trigger film_tally_truncate after truncate on film
    for each statement execute function forget_tallies();
create trigger genre_tally_insert after insert on film_genre
    referencing new table as new_rows for each statement execute function tally_genres();
create trigger genre_tally_update after update on film_genre
    referencing old table as old_rows new table as new_rows
    for each statement execute function tally_genres();
create trigger genre_tally_delete after delete on film_genre
    referencing old table as old_rows for each statement execute function tally_genres();
create trigger genre_tally_truncate after truncate on film_genre
    for each statement execute function forget_tallies();

insert into film_tally (facet, value, films)
select v.facet, v.value, count(*)
from film f
cross join lateral (values ('year', f.year::numeric), ('runtime', f.runtime_minutes::numeric),
                           ('rating', f.imdb_rating)) v(facet, value)
where v.value is not null
group by v.facet, v.value;
insert into film_tally (facet, value, films)
select 'genre', genre_id, count(*) from film_genre group by genre_id;

-- Typo-tolerant search that does not slow down as the catalogue grows.
--
-- Matching whole titles by trigram similarity walks a posting list per trigram of the search
-- text, and the lists of common trigrams grow with the catalogue: a search took 5 ms at 50k
-- films and 57 ms at 1M. The vocabulary of titles and names grows far more slowly than the
-- catalogue. So typos are corrected word by word against a dictionary of the words that occur
-- in titles and names, and the corrected words are then looked up with full-text search,
-- whose posting lists are those of specific words.

-- Every word that occurs in a film's title or original title (in_titles), or in a person's
-- name (in_names), as full-text search splits and folds them. Words are never removed: a
-- stale word only costs a lookup that finds nothing.
create table search_word (
    word       text primary key,
    in_titles  boolean not null default false,
    in_names   boolean not null default false
);
-- One trigram index per vocabulary: titles and names each search only their own words.
create index search_word_title_trgm_idx on search_word using gin (word gin_trgm_ops)
    where in_titles;
create index search_word_name_trgm_idx on search_word using gin (word gin_trgm_ops)
    where in_names;

-- The words of a text as search sees them: folded, split and deduplicated.
create function search_words(text) returns text[]
    language sql immutable parallel safe strict
    return tsvector_to_array(to_tsvector('simple', fold($1)));

-- The rows of a statement whose `columns` are new: every inserted row, and the updated rows
-- in which one of them changed. Fixed SQL over the transition tables, aliased n.
create function written_rows(op text, columns text[]) returns text
    language sql immutable parallel safe
    return case op
        when 'INSERT' then 'new_rows n'
        else format('new_rows n join old_rows o on o.id = n.id where (%s) is distinct from (%s)',
                    array_to_string(array(select 'n.' || c from unnest(columns) c), ', '),
                    array_to_string(array(select 'o.' || c from unnest(columns) c), ', '))
    end;

-- Keeping the dictionary current: once per statement, over the rows it wrote whose titles or
-- names are new or changed (COPY and bulk loads included). Words the dictionary already has
-- are left alone, so writers lock no dictionary row for them: two writers of films with
-- common words in their titles neither wait for each other nor deadlock.
create function remember_words() returns trigger
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
create trigger film_words_insert after insert on film
    referencing new table as new_rows for each statement execute function remember_words();
create trigger film_words_update after update on film
    referencing old table as old_rows new table as new_rows
    for each statement execute function remember_words();
create trigger person_words_insert after insert on person
    referencing new table as new_rows for each statement execute function remember_words();
create trigger person_words_update after update on person
    referencing old table as old_rows new table as new_rows
    for each statement execute function remember_words();

insert into search_word (word, in_titles, in_names)
select w, bool_or(in_titles), bool_or(in_names)
from (
    select unnest(search_words(title) || coalesce(search_words(original_title), '{}')), true,
           false
    from film
    union all
    select unnest(search_words(name)), false, true from person
) t(w, in_titles, in_names)
group by w;

-- OR and AND over a set of queries.
create aggregate tsquery_any(tsquery) (sfunc = tsquery_or, stype = tsquery);
create aggregate tsquery_all(tsquery) (sfunc = tsquery_and, stype = tsquery);

-- Each typed word's stand-ins from the dictionary of titles (or, with names, of names): the
-- word itself if the dictionary has it, the word with two neighbouring letters swapped back
-- ("teh" -> "the", which trigrams cannot see in a short word), and the five words most
-- similar by trigrams whose length is within two letters of it (so "theory" does not pull in
-- "the").
create function typo_candidates(typed text, names boolean) returns setof text
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

-- Search text as a full-text query that forgives typos: every word of the text must match
-- (AND), either as typed or as one of its stand-ins (OR). A word that matches nothing at all
-- (no stand-in, and for films not even a word of a synopsis: "1972" in "godfather 1972") is
-- left out rather than failing the whole query. NULL when no word is left. Callers evaluate
-- it once per statement, as `(select typo_query($1, false))` or in a materialized CTE, not
-- once per row.
create function typo_query(q text, names boolean) returns tsquery
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

-- Names are matched by words, like titles.
create index person_name_words_idx on person using gin (to_tsvector('simple', fold(name)));

-- Whole-text trigram matching of titles and names is gone, and its indexes with it.
drop index film_title_trgm_idx;
drop index person_name_trgm_idx;

-- `filmgraph import imdb`: the IMDb dataset files, staged as text (`\N` kept as written), then
-- checked, resolved and merged set-based. See import.sql for the check statements' shape.

-- name: imdb_title_stage_create
-- title.basics as read.
create temp table imdb_title_stage (
    line bigint not null, tconst text, titletype text, primarytitle text, originaltitle text,
    isadult text, startyear text, endyear text, runtimeminutes text, genres text
) on commit drop;

-- name: imdb_rating_stage_create
-- title.ratings as read.
create temp table imdb_rating_stage (
    line bigint not null, tconst text, averagerating text, numvotes text
) on commit drop;

-- name: imdb_crew_stage_create
-- title.crew as read.
create temp table imdb_crew_stage (
    line bigint not null, tconst text, directors text, writers text
) on commit drop;

-- name: imdb_principal_stage_create
-- title.principals as read.
create temp table imdb_principal_stage (
    line bigint not null, tconst text, ordering text, nconst text, category text, job text,
    characters text
) on commit drop;

-- name: imdb_name_stage_create
-- name.basics as read.
create temp table imdb_name_stage (
    line bigint not null, nconst text, primaryname text, birthyear text, deathyear text,
    primaryprofession text, knownfortitles text
) on commit drop;

-- name: imdb_aka_stage_create
-- title.akas as read.
create temp table imdb_aka_stage (
    line bigint not null, titleid text, ordering text, title text, region text, language text,
    types text, attributes text, isoriginaltitle text
) on commit drop;

-- name: imdb_film_stage_create
-- The films of this import: kept title types, one row per title, values typed.
create temp table imdb_film_stage (
    imdb_id text primary key, line bigint not null, title text not null, original_title text,
    year integer, runtime_minutes integer, genres text, imdb_rating numeric(3, 1),
    imdb_votes integer
) on commit drop;

-- name: imdb_credit_stage_create
-- Credits from title.principals and title.crew, typed, by IMDb ids.
create temp table imdb_credit_stage (
    file text not null, line bigint not null, tconst text not null, nconst text not null,
    role text not null, character_name text, billing_order integer, source integer not null
) on commit drop;

-- name: imdb_person_stage_create
-- The people of this import: credited here or already in the graph, typed.
create temp table imdb_person_stage (
    imdb_id text primary key, name text not null, birth_year integer, death_year integer
) on commit drop;

-- name: imdb_import_memory
-- Memory for the sorts and hashes of this import's transaction (the server's default is 4MB:
-- a daily re-import of a tenth of the dataset sorted its titles on disk, 107 MB). 128MB, half
-- of a first load's (imdb_first_load_memory, which takes over on that path): the API is
-- serving reads meanwhile.
select set_config('work_mem', '128MB', true);

-- name: imdb_film_ids
-- The IMDb ids of the films in the graph (read by COPY): their lines are staged whatever their
-- type in title.basics.
select imdb_id from film where imdb_id is not null;

-- name: imdb_person_ids
-- The IMDb ids of the people in the graph (read by COPY): their name.basics lines are staged
-- whether credited here or not.
select imdb_id from person where imdb_id is not null;

-- name: imdb_titles_check
-- Why a title.basics row is rejected, or null to keep it: a malformed id, title or number, or
-- a title or genres too long to index (a btree entry holds about 2,700 bytes).
select line, case
    when not imdb_id_ok(tconst, 'tt') then 'bad tconst ' || quote_literal(left(tconst, 40))
    when btrim(primarytitle) in ('', '\N') then 'empty primaryTitle'
    when octet_length(primarytitle) > 1000 then 'primaryTitle over 1000 bytes'
    when octet_length(originaltitle) > 1000 then 'originalTitle over 1000 bytes'
    when octet_length(genres) > 1000 then 'genres over 1000 bytes'
    when isadult not in ('0', '1', '\N') then 'bad isAdult ' || quote_literal(left(isadult, 20))
    -- 1 to 4 (or 9) ASCII digits, as ^[0-9]{1,4}$ but tested by length and rtrim: the check
    -- reads every line of title.basics (11 million at full scale), and the regular
    -- expressions cost 10-30% of it (0.58-0.81 s against 0.52-0.57 s at a tenth).
    when startyear <> '\N' and not (octet_length(startyear) between 1 and 4
                                    and rtrim(startyear, '0123456789') = '')
        then 'bad startYear ' || quote_literal(left(startyear, 20))
    when endyear <> '\N' and not (octet_length(endyear) between 1 and 4
                                  and rtrim(endyear, '0123456789') = '')
        then 'bad endYear ' || quote_literal(left(endyear, 20))
    when runtimeminutes <> '\N' and not (octet_length(runtimeminutes) between 1 and 9
                                         and rtrim(runtimeminutes, '0123456789') = '')
        then 'bad runtimeMinutes ' || quote_literal(left(runtimeminutes, 20))
end as reason
from imdb_title_stage;

-- name: imdb_ratings_check
-- Why a title.ratings row is rejected, or null to keep it: a malformed id or number.
select line, case
    when not imdb_id_ok(tconst, 'tt') then 'bad tconst ' || quote_literal(left(tconst, 40))
    when averagerating !~ '^[0-9]{1,2}(\.[0-9]+)?$'
        then 'bad averageRating ' || quote_literal(left(averagerating, 20))
    when averagerating::numeric > 10
        then 'bad averageRating ' || quote_literal(averagerating)
    when numvotes !~ '^[0-9]{1,9}$' then 'bad numVotes ' || quote_literal(left(numvotes, 20))
end as reason
from imdb_rating_stage;

-- name: imdb_crew_check
-- Why a title.crew row is rejected, or null to keep it: a malformed title or person id.
select line, case
    when not imdb_id_ok(tconst, 'tt') then 'bad tconst ' || quote_literal(left(tconst, 40))
    when directors <> '\N' and directors !~ '^nm[0-9]{7,10}(,nm[0-9]{7,10})*$'
        then 'bad directors ' || quote_literal(left(directors, 40))
    when writers <> '\N' and writers !~ '^nm[0-9]{7,10}(,nm[0-9]{7,10})*$'
        then 'bad writers ' || quote_literal(left(writers, 40))
end as reason
from imdb_crew_stage;

-- name: imdb_principals_check
-- Why a title.principals row is rejected, or null to keep it: a malformed id, ordering or
-- characters list.
select line, case
    when not imdb_id_ok(tconst, 'tt') then 'bad tconst ' || quote_literal(left(tconst, 40))
    when not imdb_id_ok(nconst, 'nm') then 'bad nconst ' || quote_literal(left(nconst, 40))
    when ordering !~ '^0*[1-9][0-9]{0,5}$'
        then 'bad ordering ' || quote_literal(left(ordering, 20))
    when btrim(category) in ('', '\N') then 'empty category'
    when characters = '\N' then null
    -- An array of plain strings, as jsonb_ok tells it (the most of them): parsed neither by
    -- jsonb_ok nor by jsonb_typeof below (0.13 of 1.73 s for a tenth of IMDb's principals).
    when characters ~ '^\[("[^"\\\x01-\x1f]*"(,"[^"\\\x01-\x1f]*")*)?\]$' then null
    when not jsonb_ok(characters) then 'characters is not JSON'
    when jsonb_typeof(characters::jsonb) <> 'array' then 'characters is not a JSON array'
end as reason
from imdb_principal_stage;

-- name: imdb_names_check
-- Why a name.basics row is rejected, or null to keep it: a malformed id, name or year, or a
-- name too long to index.
select line, case
    when not imdb_id_ok(nconst, 'nm') then 'bad nconst ' || quote_literal(left(nconst, 40))
    when btrim(primaryname) in ('', '\N') then 'empty primaryName'
    when octet_length(primaryname) > 1000 then 'primaryName over 1000 bytes'
    when birthyear <> '\N' and birthyear !~ '^[0-9]{1,4}$'
        then 'bad birthYear ' || quote_literal(left(birthyear, 20))
    when deathyear <> '\N' and deathyear !~ '^[0-9]{1,4}$'
        then 'bad deathYear ' || quote_literal(left(deathyear, 20))
end as reason
from imdb_name_stage;

-- name: imdb_akas_check
-- Why a title.akas row is rejected, or null to keep it: a malformed id, ordering, title, region,
-- language or flag.
select line, case
    when not imdb_id_ok(titleid, 'tt') then 'bad titleId ' || quote_literal(left(titleid, 40))
    when ordering !~ '^0*[1-9][0-9]{0,5}$'
        then 'bad ordering ' || quote_literal(left(ordering, 20))
    when btrim(title) in ('', '\N') then 'empty title'
    when region <> '\N' and region !~ '^[A-Z]{2,4}$'
        then 'bad region ' || quote_literal(left(region, 20))
    when language <> '\N' and language !~ '^[a-z]{2,3}$'
        then 'bad language ' || quote_literal(left(language, 20))
    when isoriginaltitle not in ('0', '1', '\N')
        then 'bad isOriginalTitle ' || quote_literal(left(isoriginaltitle, 20))
end as reason
from imdb_aka_stage;

-- name: imdb_films_stage
-- Typed films of the kept title types ($1), with their rating: the last row of a duplicated
-- id wins, and is kept if its type is; years and runtimes outside what the graph holds become
-- unknown.
insert into imdb_film_stage (
    imdb_id, line, title, original_title, year, runtime_minutes, genres, imdb_rating, imdb_votes
)
select
    t.tconst, t.line, t.primarytitle,
    nullif(nullif(btrim(t.originaltitle), ''), '\N'),
    case when nullif(t.startyear, '\N')::integer between 1870 and 2100
         then nullif(t.startyear, '\N')::integer end,
    case when nullif(t.runtimeminutes, '\N')::bigint between 1 and 6000
         then nullif(t.runtimeminutes, '\N')::integer end,
    -- Trimmed: a line ending in whitespace gave a genre named "\N".
    nullif(nullif(btrim(t.genres), '\N'), ''),
    r.rating, r.votes
from (
    select distinct on (tconst) * from imdb_title_stage order by tconst, line desc
) t
left join (
    select distinct on (tconst) tconst, averagerating::numeric(3, 1) as rating,
           numvotes::integer as votes
    from imdb_rating_stage
    order by tconst, line desc
) r on r.tconst = t.tconst
where t.titletype = any($1::text[]);

-- name: imdb_film_ratings_tally
-- For the summary's "rating" row, before the staged films are merged: of the staged films
-- with a rating, how many get one they did not have, how many a changed one, and how many.
select count(*) filter (where f.imdb_rating is null) as inserted,
       count(*) filter (where f.imdb_rating is not null
                          and (f.imdb_rating, f.imdb_votes)
                              is distinct from (s.imdb_rating, s.imdb_votes)) as updated,
       count(*) as total
from imdb_film_stage s
left join film f on f.imdb_id = s.imdb_id
where s.imdb_rating is not null;

-- name: imdb_films_update
-- Bring films already in the graph up to date; return how many changed. A value the files
-- leave unknown keeps what the graph has, except with --prune and title.ratings read ($1):
-- then a rating title.ratings no longer lists is forgotten here, so that a film whose title
-- and rating both changed counts as one film updated.
with changed as (
    update film f set
        title = s.title,
        original_title = coalesce(s.original_title, f.original_title),
        year = coalesce(s.year, f.year),
        runtime_minutes = coalesce(s.runtime_minutes, f.runtime_minutes),
        imdb_rating = case when k.keep then f.imdb_rating else s.imdb_rating end,
        imdb_votes = case when k.keep then f.imdb_votes else s.imdb_votes end
    from imdb_film_stage s
    cross join lateral (select s.imdb_rating is null and not $1::boolean as keep) k
    where f.imdb_id = s.imdb_id
      and (f.title, f.original_title, f.year, f.runtime_minutes, f.imdb_rating, f.imdb_votes)
          is distinct from (
              s.title, coalesce(s.original_title, f.original_title), coalesce(s.year, f.year),
              coalesce(s.runtime_minutes, f.runtime_minutes),
              case when k.keep then f.imdb_rating else s.imdb_rating end,
              case when k.keep then f.imdb_votes else s.imdb_votes end)
    returning 1
)
select count(*) from changed;

-- name: imdb_films_insert
-- Add the staged films the graph does not have, each with a unique slug: title-year for the
-- most voted film of that name, title-year-imdbid for the others; return how many.
with new as (
    select s.*, coalesce(nullif(slugify(s.title || coalesce(' ' || s.year, '')), ''), 'film')
                as base
    from imdb_film_stage s
    where not exists (select 1 from film f where f.imdb_id = s.imdb_id)
), ranked as (
    select new.*, row_number() over (
        partition by base order by imdb_votes desc nulls last, imdb_id) as rn
    from new
), added as (
    insert into film (
        slug, title, original_title, year, runtime_minutes, imdb_rating, imdb_votes, imdb_id
    )
    select case when rn = 1 and not exists (select 1 from film f where f.slug = base)
                then base else base || '-' || imdb_id end,
           title, original_title, year, runtime_minutes, imdb_rating, imdb_votes, imdb_id
    from ranked
    returning 1
)
select count(*) from added;

-- name: imdb_film_genres_stage
-- The staged films' genres, and a null for each staged film (it is mentioned: its IMDb genre
-- links are brought in line), for graph/importers/genres.py.
insert into import_genre_stage (imdb_id, name)
select s.imdb_id, btrim(g)
from imdb_film_stage s, unnest(string_to_array(s.genres, ',')) g
where btrim(g) <> ''
union all
select s.imdb_id, null from imdb_film_stage s;

-- name: imdb_credits_stage
-- Credits from principals (category to role, characters to one name, ordering to billing
-- order) and from crew (directors, writers); $1 and $2 name the two files.
insert into imdb_credit_stage (
    file, line, tconst, nconst, role, character_name, billing_order, source
)
select $1::text, p.line, p.tconst, p.nconst, r.role,
       case when r.role = 'ACTOR' and p.characters <> '\N' then (
           select nullif(string_agg(btrim(c), ' / ' order by n), '')
           from jsonb_array_elements_text(p.characters::jsonb) with ordinality as e(c, n)
           where btrim(c) <> '') end,
       p.ordering::integer, 1
from imdb_principal_stage p
cross join lateral (select case p.category
    when 'actor' then 'ACTOR' when 'actress' then 'ACTOR' when 'self' then 'ACTOR'
    when 'archive_footage' then 'ACTOR' when 'director' then 'DIRECTOR'
    when 'writer' then 'WRITER' when 'producer' then 'PRODUCER'
    when 'executive_producer' then 'PRODUCER' when 'composer' then 'COMPOSER'
    when 'cinematographer' then 'CINEMATOGRAPHER' when 'editor' then 'EDITOR'
    else 'OTHER' end as role) r
union all
select $2::text, c.line, c.tconst, d, 'DIRECTOR', null, null, 2
from imdb_crew_stage c, unnest(string_to_array(nullif(c.directors, '\N'), ',')) d
union all
select $2::text, c.line, c.tconst, w, 'WRITER', null, null, 2
from imdb_crew_stage c, unnest(string_to_array(nullif(c.writers, '\N'), ',')) w;

-- name: imdb_titles_resolve
-- Leave out credits of titles that are in title.basics under a title type not imported
-- (skipped), and those of titles neither in the graph nor in the files (dangling: an extract's
-- references, not bad lines). One row per file: those counts, in lines, and the first $1
-- dangling lines with the title they name. $2 names title.crew, whose lines are counted from
-- its stage: a line with neither directors nor writers stages no credit, and is one too.
with gone as (
    delete from imdb_credit_stage c
    where not exists (select 1 from film f where f.imdb_id = c.tconst)
    returning c.file, c.line, c.tconst
), named as (
    select file, line, tconst from gone where file <> $2::text
    union all
    select $2::text, c.line, c.tconst from imdb_crew_stage c
    where not exists (select 1 from film f where f.imdb_id = c.tconst)
), lines as (
    select g.file, g.line, min(g.tconst) as tconst, bool_and(t.tconst is not null) as known
    from named g
    left join (select distinct tconst from imdb_title_stage) t on t.tconst = g.tconst
    group by g.file, g.line
)
select file, count(*) filter (where known) as skipped,
       count(*) filter (where not known) as dangling,
       (array_agg(line order by line) filter (where not known))[1:$1] as lines,
       (array_agg(tconst order by line) filter (where not known))[1:$1] as refs
from lines
group by file
order by file;

-- name: imdb_people_resolve
-- Leave out the credits naming a person neither in the graph nor in name.basics (dangling:
-- only that credit, so a crew line keeps its other directors and writers). One row per file:
-- how many, and the first $1 with their line. $2 is unused (each row names its file).
with gone as (
    delete from imdb_credit_stage c
    where not exists (select 1 from person p where p.imdb_id = c.nconst)
      and not exists (select 1 from imdb_name_stage n where n.nconst = c.nconst)
      and $2::text is not null
    returning c.file, c.line, c.nconst
), named as (  -- a crew line naming one person as director and writer: one example
    select file, line, nconst, count(*) as credits from gone group by file, line, nconst
)
select file, 0::bigint as skipped, sum(credits)::bigint as dangling,
       (array_agg(line order by line, nconst))[1:$1] as lines,
       (array_agg(nconst order by line, nconst))[1:$1] as refs
from named
group by file
order by file;

-- name: imdb_people_stage
-- Typed people of name.basics who are credited in this import or already in the graph (the
-- last row of a duplicated id winning); years the graph cannot hold become unknown. Returns
-- how many rows of name.basics were left out and how many people were staged.
with kept as (
    insert into imdb_person_stage (imdb_id, name, birth_year, death_year)
    select distinct on (n.nconst) n.nconst, btrim(n.primaryname), b.year, d.year
    from imdb_name_stage n
    cross join lateral (select nullif(n.birthyear, '\N')::integer as born,
                               nullif(n.deathyear, '\N')::integer as died) y
    cross join lateral (select case when y.born between 1800 and 2100 then y.born end as year) b
    cross join lateral (select case when y.died between 1800 and 2100
                                     and y.died >= coalesce(b.year, 0)
                                    then y.died end as year) d
    -- IN over a union, not two EXISTS joined by OR: that the planner can run as one hashed
    -- semi-join instead of a scan of the credits per name.
    where n.nconst in (select c.nconst from imdb_credit_stage c
                       union all
                       select p.imdb_id from person p where p.imdb_id is not null)
    order by n.nconst, n.line desc
    returning imdb_id
)
select (select count(*) from imdb_name_stage) - (select count(*) from kept) as left_out,
       (select count(*) from kept) as kept;

-- name: imdb_people_update
-- Bring people already in the graph up to date; return how many changed.
with changed as (
    update person p set
        name = s.name,
        birth_year = coalesce(s.birth_year, p.birth_year),
        death_year = coalesce(s.death_year, p.death_year)
    from imdb_person_stage s
    where p.imdb_id = s.imdb_id
      and (p.name, p.birth_year, p.death_year) is distinct from
          (s.name, coalesce(s.birth_year, p.birth_year), coalesce(s.death_year, p.death_year))
    returning 1
)
select count(*) from changed;

-- name: imdb_people_insert
-- Add the staged people the graph does not have, each with a unique slug (the name, then
-- name-imdbid for later namesakes); return how many.
with new as (
    select s.*, coalesce(nullif(slugify(s.name), ''), 'person') as base
    from imdb_person_stage s
    where not exists (select 1 from person p where p.imdb_id = s.imdb_id)
), ranked as (
    select new.*, row_number() over (partition by base order by imdb_id) as rn from new
), added as (
    insert into person (slug, name, birth_year, death_year, imdb_id)
    select case when rn = 1 and not exists (select 1 from person p where p.slug = base)
                then base else base || '-' || imdb_id end,
           name, birth_year, death_year, imdb_id
    from ranked
    returning 1
)
select count(*) from added;

-- name: imdb_credits_merge
-- Merge the staged credits, one per film, role and person (principals before crew, then the
-- first billing); return inserted, updated and the number merged.
with wanted as (
    select distinct on (c.tconst, c.role, c.nconst)
           c.tconst, c.role, c.nconst, c.character_name, c.billing_order
    from imdb_credit_stage c
    order by c.tconst, c.role, c.nconst, c.source, c.billing_order nulls last, c.line
), resolved as (
    select f.id as film_id, p.id as person_id, w.role, w.character_name, w.billing_order
    from wanted w
    join film f on f.imdb_id = w.tconst
    join person p on p.imdb_id = w.nconst
), changed as (
    -- Most credits of a re-import are there already, as they are: one anti-join over the
    -- table leaves them out, where the insert would probe the unique index for each.
    select r.* from resolved r
    where not exists (
        select 1 from credit k
        where k.film_id = r.film_id and k.role = r.role and k.person_id = r.person_id
          and (k.character_name, k.billing_order) is not distinct from
              (coalesce(r.character_name, k.character_name),
               coalesce(r.billing_order, k.billing_order)))
), merged as (
    insert into credit (film_id, person_id, role, character_name, billing_order)
    select film_id, person_id, role, character_name, billing_order from changed
    on conflict (film_id, role, person_id) do update set
        character_name = coalesce(excluded.character_name, credit.character_name),
        billing_order = coalesce(excluded.billing_order, credit.billing_order)
    where (credit.character_name, credit.billing_order) is distinct from
          (coalesce(excluded.character_name, credit.character_name),
           coalesce(excluded.billing_order, credit.billing_order))
    returning (xmax = 0) as inserted
)
select count(*) filter (where inserted) as inserted,
       count(*) filter (where not inserted) as updated,
       (select count(*) from wanted) as total
from merged;

-- name: imdb_credits_prune
-- Credits which neither title.principals nor title.crew lists any more. Only run when both
-- files came in whole, with no line rejected: together they are IMDb's full credits of each
-- film they mention, so by default the credits of those films are brought in line (IMDb has
-- corrected them). With --prune ($1) the files are IMDb's whole dataset, so the credits of
-- every film from IMDb (one with an IMDb id) are, mentioned or not. Returns how many.
with mentioned as (
    select distinct f.id
    from imdb_credit_stage c join film f on f.imdb_id = c.tconst
), listed as (
    select f.id as film_id, c.role, p.id as person_id
    from imdb_credit_stage c
    join film f on f.imdb_id = c.tconst
    join person p on p.imdb_id = c.nconst
), gone as (
    -- The films as a join, not `film_id in (...) or ...`: past work_mem that subplan is not
    -- hashed but scanned again for each row.
    delete from credit k
    using (select id from mentioned
           union
           select f.id from film f where $1::boolean and f.imdb_id is not null) m
    where k.film_id = m.id
      and not exists (select 1 from listed l
                      where l.film_id = k.film_id and l.role = k.role
                        and l.person_id = k.person_id)
    returning 1
)
select count(*) from gone;

-- name: imdb_films_prune
-- With --prune: remove the films from IMDb (those with an IMDb id) that title.basics no longer
-- lists. One it lists under a title type this import leaves out is not gone from IMDb, and may
-- have come from elsewhere (MovieLens creates films by IMDb id, whatever their type), so it
-- stays. Their credits, alternative titles, genre links and offers go with them; returns the films and, counted before the cascade (the summary counts what
-- went, cascades included), those credits, alternative titles, genre links and offers.
with gone as (
    delete from film f
    where f.imdb_id is not null
      and not exists (select 1 from imdb_title_stage s where s.tconst = f.imdb_id)
    returning f.id
)
select (select count(*) from gone) as films,
       (select count(*) from credit c where c.film_id in (select id from gone)) as credits,
       (select count(*) from film_alternative_title a
        where a.film_id in (select id from gone)) as alternative_titles,
       (select count(*) from film_genre g where g.film_id in (select id from gone)) as genre_links,
       (select count(*) from offer o where o.film_id in (select id from gone)) as offers;

-- name: imdb_people_prune
-- With --prune: remove the people from IMDb (those with an IMDb id) that name.basics no longer
-- lists, and so their credits; returns the people and, counted before the cascade, the
-- credits.
with gone as (
    delete from person p
    where p.imdb_id is not null
      and not exists (select 1 from imdb_name_stage s where s.nconst = p.imdb_id)
    returning p.id
)
select (select count(*) from gone) as people,
       (select count(*) from credit c where c.person_id in (select id from gone)) as credits;

-- name: imdb_ratings_prune
-- With --prune: forget the rating of every film from IMDb that title.ratings no longer lists,
-- of those title.basics did not stage (imdb_films_update saw to those). Returns how many.
with changed as (
    update film f set imdb_rating = null, imdb_votes = null
    where f.imdb_id is not null
      and (f.imdb_rating is not null or f.imdb_votes is not null)
      and not exists (select 1 from imdb_rating_stage r where r.tconst = f.imdb_id)
      and not exists (select 1 from imdb_film_stage s where s.imdb_id = f.imdb_id)
    returning 1
)
select count(*) from changed;

-- name: imdb_ratings_resolve
-- Ratings of films staged from title.basics are merged with them: drop those; skip ratings
-- of titles of other types; leave out, as dangling, those of titles neither in the graph nor
-- in the files, and list the first $1 of them, for file $2.
with gone as (
    delete from imdb_rating_stage r
    where exists (select 1 from imdb_film_stage s where s.imdb_id = r.tconst)
       or not exists (select 1 from film f where f.imdb_id = r.tconst)
    returning r.line, r.tconst
), left_out as (
    select g.line, g.tconst, t.tconst is not null as known
    from gone g
    left join (select distinct tconst from imdb_title_stage) t on t.tconst = g.tconst
    where not exists (select 1 from imdb_film_stage s where s.imdb_id = g.tconst)
)
select $2::text as file, count(*) filter (where known) as skipped,
       count(*) filter (where not known) as dangling,
       (array_agg(line order by line) filter (where not known))[1:$1] as lines,
       (array_agg(tconst order by line) filter (where not known))[1:$1] as refs
from left_out;

-- name: imdb_ratings_update
-- Ratings of films in the graph that title.basics did not list; return those new to their
-- film, those changed, and the total.
with wanted as (
    select distinct on (tconst) tconst, averagerating::numeric(3, 1) as rating,
           numvotes::integer as votes
    from imdb_rating_stage
    order by tconst, line desc
), changed as (
    update film f set imdb_rating = w.rating, imdb_votes = w.votes
    from wanted w, film old
    where f.imdb_id = w.tconst and old.id = f.id
      and (f.imdb_rating, f.imdb_votes) is distinct from (w.rating, w.votes)
    returning old.imdb_rating is null as new
)
select (select count(*) from changed where new) as inserted,
       (select count(*) from changed where not new) as updated,
       (select count(*) from wanted) as total;

-- name: imdb_akas_resolve
-- Skip alternative titles of titles of other types; leave out, as dangling, those of titles
-- neither in the graph nor in the files, and list the first $1 of them, for file $2.
with gone as (
    delete from imdb_aka_stage a
    where not exists (select 1 from film f where f.imdb_id = a.titleid)
    returning a.line, a.titleid
), left_out as (
    select g.line, g.titleid, t.tconst is not null as known
    from gone g
    left join (select distinct tconst from imdb_title_stage) t on t.tconst = g.titleid
)
select $2::text as file, count(*) filter (where known) as skipped,
       count(*) filter (where not known) as dangling,
       (array_agg(line order by line) filter (where not known))[1:$1] as lines,
       (array_agg(titleid order by line) filter (where not known))[1:$1] as refs
from left_out;

-- name: imdb_akas_prune
-- Alternative titles title.akas no longer lists: of the films it mentions (it lists all of a
-- film's titles together), and with --prune ($1) of every film from IMDb. Only run when no
-- line was rejected. Orderings past 999,999 are MovieLens's (movielens_alternative_titles_merge).
-- Returns how many.
with listed as (
    select distinct f.id as film_id, a.ordering::integer as ordering
    from imdb_aka_stage a join film f on f.imdb_id = a.titleid
), gone as (
    -- The films as a join, not `film_id in (...) or ...`: past work_mem that subplan is not
    -- hashed but scanned again for each row (1.2M x 1.2M rows at a tenth of IMDb).
    delete from film_alternative_title t
    using (select film_id from listed
           union
           select f.id from film f where $1::boolean and f.imdb_id is not null) m
    where t.film_id = m.film_id
      and t.ordering <= 999999
      and not exists (select 1 from listed l
                      where l.film_id = t.film_id and l.ordering = t.ordering)
    returning 1
)
select count(*) from gone;

-- name: imdb_akas_merge
-- Merge alternative titles by film and IMDb ordering; return inserted, updated and total.
with wanted as (
    select distinct on (a.titleid, a.ordering::integer)
           f.id as film_id, a.ordering::integer as ordering, btrim(a.title) as title,
           nullif(a.region, '\N') as region, nullif(a.language, '\N') as language,
           coalesce(string_to_array(nullif(a.types, '\N'), chr(2)), '{}') as types,
           coalesce(string_to_array(nullif(a.attributes, '\N'), chr(2)), '{}') as attributes,
           a.isoriginaltitle = '1' as is_original
    from imdb_aka_stage a
    join film f on f.imdb_id = a.titleid
    order by a.titleid, a.ordering::integer, a.line desc
), changed as (
    -- Most alternative titles of a re-import are there already, as they are: one anti-join
    -- leaves them out, where the insert would probe the primary key for each.
    select w.* from wanted w
    where not exists (
        select 1 from film_alternative_title t
        where t.film_id = w.film_id and t.ordering = w.ordering
          and (t.title, t.region, t.language, t.types, t.attributes, t.is_original)
              is not distinct from (w.title, w.region, w.language, w.types, w.attributes,
                                    w.is_original))
), merged as (
    insert into film_alternative_title (
        film_id, ordering, title, region, language, types, attributes, is_original
    )
    select * from changed
    on conflict (film_id, ordering) do update set
        title = excluded.title, region = excluded.region, language = excluded.language,
        types = excluded.types, attributes = excluded.attributes,
        is_original = excluded.is_original
    where (film_alternative_title.title, film_alternative_title.region,
           film_alternative_title.language, film_alternative_title.types,
           film_alternative_title.attributes, film_alternative_title.is_original)
          is distinct from (excluded.title, excluded.region, excluded.language, excluded.types,
                            excluded.attributes, excluded.is_original)
    returning (xmax = 0) as inserted
)
select count(*) filter (where inserted) as inserted,
       count(*) filter (where not inserted) as updated,
       (select count(*) from wanted) as total
from merged;

-- name: imdb_digest_stage_create
-- The digests of the titles staged by this import (graph/importers/digests.py).
create temp table imdb_digest_stage (
    file text not null, imdb_id text not null, digest bigint not null
) on commit drop;

-- name: imdb_digests_of_akas
-- The digests the last imports stored for title.akas (read by COPY: number, digest, rows), by
-- title number in order, of the films the graph still holds with as many IMDb alternative
-- titles as their lines gave: a film deleted since (by hand, by another importer), or one
-- whose alternative titles are not as many, has its lines staged again. The titles are
-- counted in one pass over the table (a count by film for each of 850,000 films took 15 s at
-- full scale, this 5 s).
select substr(d.imdb_id, 3)::bigint as number, d.digest, d.rows
from imdb_digest d
join film f on f.imdb_id = d.imdb_id
left join (select a.film_id, count(*) as n from film_alternative_title a
           where a.ordering <= 999999 group by a.film_id) a on a.film_id = f.id
where d.file = 'title.akas' and d.rows = coalesce(a.n, 0)
order by length(d.imdb_id), d.imdb_id;

-- name: imdb_digests_of_credits
-- imdb_digests_of_akas for the credits (title.principals and title.crew): of the films the
-- graph still holds with as many credits as the lines gave.
select substr(d.imdb_id, 3)::bigint as number, d.digest, d.rows
from imdb_digest d
join film f on f.imdb_id = d.imdb_id
left join (select c.film_id, count(*) as n from credit c group by c.film_id) c
       on c.film_id = f.id
where d.file = 'credits' and d.rows = coalesce(c.n, 0)
order by length(d.imdb_id), d.imdb_id;

-- name: imdb_digests_of_names
-- imdb_digests_of_akas for name.basics: of the people the graph still holds.
select substr(d.imdb_id, 3)::bigint as number, d.digest, d.rows
from imdb_digest d
join person p on p.imdb_id = d.imdb_id
where d.file = 'name.basics'
order by length(d.imdb_id), d.imdb_id;

-- name: imdb_crew_unchanged_drop
-- Leave out the title.crew lines of titles whose credits did not change: those with a stored
-- digest that title.principals' reading did not stage again.
delete from imdb_crew_stage c
where exists (select 1 from imdb_digest d where d.file = 'credits' and d.imdb_id = c.tconst)
  and not exists (select 1 from imdb_digest_stage s
                  where s.file = 'credits' and s.imdb_id = c.tconst);

-- name: imdb_digests_replace
-- Forget the stored digests of the titles of file $1 this import staged (imdb_digests_store_*
-- then stores those merged whole).
delete from imdb_digest d
using imdb_digest_stage s
where d.file = $1 and s.file = $1 and d.imdb_id = s.imdb_id;

-- name: imdb_digests_store_akas
-- The digests of the staged titles of title.akas whose film is in the graph, each with its
-- number of alternative titles (rejected and dangling lines are gone from the stage by now).
insert into imdb_digest (file, imdb_id, digest, rows)
select 'title.akas', s.imdb_id, s.digest, coalesce(n.rows, 0)
from imdb_digest_stage s
left join (select titleid, count(distinct ordering::integer) as rows
           from imdb_aka_stage group by titleid) n on n.titleid = s.imdb_id
where s.file = 'title.akas' and exists (select 1 from film f where f.imdb_id = s.imdb_id);

-- name: imdb_digests_store_credits
-- The digests of the staged titles of title.principals and title.crew whose film is in the
-- graph and whose lines name only people in it (a credit left out as dangling must be staged
-- again next time), each with its number of credits. $1: whether any credit was left out for
-- naming an unknown person (if not, no title is looked for: a first load stores them all).
with unsettled as (
    select p.tconst from imdb_principal_stage p
    where not exists (select 1 from person x where x.imdb_id = p.nconst)
    union
    select c.tconst
    from imdb_crew_stage c
    cross join lateral unnest(string_to_array(nullif(c.directors, '\N'), ',')
                              || string_to_array(nullif(c.writers, '\N'), ',')) n(nconst)
    where not exists (select 1 from person x where x.imdb_id = n.nconst)
)
insert into imdb_digest (file, imdb_id, digest, rows)
select 'credits', s.imdb_id, s.digest, coalesce(n.rows, 0)
from imdb_digest_stage s
-- Distinct (tconst, role, nconst) counted per title, rather than count(distinct (role,
-- nconst)): that sorted a million rows by a row value, compared field by field (2.4 s of
-- 2.9 s at a tenth of IMDb).
left join (select tconst, count(*) as rows
           from (select distinct tconst, role, nconst from imdb_credit_stage) d
           group by tconst) n on n.tconst = s.imdb_id
where s.file = 'credits' and exists (select 1 from film f where f.imdb_id = s.imdb_id)
  and not ($1::boolean and exists (select 1 from unsettled u where u.tconst = s.imdb_id));

-- name: imdb_digests_forget_file
-- Forget the digests of file $1: some line of it was rejected, or its titles were not in
-- order, so what the graph holds of its titles is not what a digest would say.
delete from imdb_digest where file = $1;

-- name: imdb_digests_forget
-- Forget every digest: an import with --prune may have removed the films, people, credits and
-- alternative titles of titles its files do not list.
delete from imdb_digest;

-- name: imdb_digests_store_names
-- The digests of the staged people of name.basics who are in the graph.
insert into imdb_digest (file, imdb_id, digest, rows)
select 'name.basics', s.imdb_id, s.digest, 1
from imdb_digest_stage s
where s.file = 'name.basics' and exists (select 1 from person p where p.imdb_id = s.imdb_id);

-- name: imdb_titles_again
-- Earlier lines of an id that title.basics gives again with other content (of what the graph
-- keeps of a title): the last line is the one merged (imdb_films_stage), these are left out.
-- Counted, the first $1 listed, for file $2; the same line again is merged, not listed. Only
-- ids with a line of a type kept ($3) are looked at: a hash of every id of the stage cost
-- 1.0 s of a tenth of IMDb's first load, one of those of the films 0.1 s. Such an id is given
-- again if it has several lines of those types, or if its last line is of another (then it is
-- no film).
with kept as (
    select tconst, count(*) as lines from imdb_title_stage
    where titletype = any($3::text[]) group by tconst
), ids as (
    select k.tconst from kept k left join imdb_film_stage f on f.imdb_id = k.tconst
    where k.lines > 1 or f.imdb_id is null
), given as (
    select s.*, max(s.line) over (partition by s.tconst) as last
    from imdb_title_stage s join ids i on i.tconst = s.tconst
), lost as (
    select s.line, s.tconst || ', again on line ' || s.last as ref
    from given s
    join given l on l.tconst = s.tconst and l.line = s.last
    where s.line < s.last
      and (s.titletype, s.primarytitle, s.originaltitle, s.startyear, s.runtimeminutes, s.genres)
          is distinct from
          (l.titletype, l.primarytitle, l.originaltitle, l.startyear, l.runtimeminutes, l.genres)
)
select $2::text as file, count(*) as lost, (array_agg(line order by line))[1:$1] as lines,
       (array_agg(ref order by line))[1:$1] as refs
from lost;

-- name: imdb_ratings_again
-- imdb_titles_again for title.ratings.
with again as (
    select tconst, max(line) as last from imdb_rating_stage group by tconst having count(*) > 1
), lost as (
    select s.line, s.tconst || ', again on line ' || a.last as ref
    from again a
    join imdb_rating_stage s on s.tconst = a.tconst and s.line < a.last
    join imdb_rating_stage l on l.tconst = a.tconst and l.line = a.last
    where (s.averagerating, s.numvotes) is distinct from (l.averagerating, l.numvotes)
)
select $2::text as file, count(*) as lost, (array_agg(line order by line))[1:$1] as lines,
       (array_agg(ref order by line))[1:$1] as refs
from lost;

-- name: imdb_akas_again
-- imdb_titles_again for title.akas, by title and ordering; run only when the alternative
-- titles merged are fewer than the lines staged (a hash of every line costs).
with again as (
    select titleid, ordering::integer as ordering, max(line) as last
    from imdb_aka_stage group by 1, 2 having count(*) > 1
), lost as (
    select s.line, s.titleid || ' ordering ' || a.ordering || ', again on line ' || a.last as ref
    from again a
    join imdb_aka_stage s
      on s.titleid = a.titleid and s.ordering::integer = a.ordering and s.line < a.last
    join imdb_aka_stage l on l.titleid = a.titleid and l.line = a.last
    where (s.title, s.region, s.language, s.types, s.attributes, s.isoriginaltitle)
          is distinct from
          (l.title, l.region, l.language, l.types, l.attributes, l.isoriginaltitle)
)
select $2::text as file, count(*) as lost, (array_agg(line order by line))[1:$1] as lines,
       (array_agg(ref order by line))[1:$1] as refs
from lost;

-- name: imdb_akas_staged
-- The lines of title.akas staged (each of a film in the graph, once resolved).
select count(*) from imdb_aka_stage;

-- name: imdb_names_again
-- imdb_titles_again for name.basics, of the people staged (imdb_people_stage), with how many
-- lines of theirs were there more than once (merged, so no rows "not credited here"); run only
-- when name.basics has more lines than people staged.
with again as (
    select n.nconst, count(*) as lines, max(n.line) as last
    from imdb_name_stage n
    join imdb_person_stage p on p.imdb_id = n.nconst
    group by n.nconst having count(*) > 1
), lost as (
    select s.line, s.nconst || ', again on line ' || a.last as ref
    from again a
    join imdb_name_stage s on s.nconst = a.nconst and s.line < a.last
    join imdb_name_stage l on l.nconst = a.nconst and l.line = a.last
    where (s.primaryname, s.birthyear, s.deathyear)
          is distinct from (l.primaryname, l.birthyear, l.deathyear)
)
select $2::text as file, count(*) as lost, (array_agg(line order by line))[1:$1] as lines,
       (array_agg(ref order by line))[1:$1] as refs,
       (select coalesce(sum(lines - 1), 0) from again)::bigint as merged
from lost;

-- `filmgraph import movielens`: movies.csv and links.csv of a MovieLens release, merged onto
-- films by IMDb id (links.csv writes it without "tt", keeping leading zeros).

-- name: movielens_movie_stage_create
-- movies.csv as read.
create temp table movielens_movie_stage (
    line bigint not null, movieid text, title text, genres text
) on commit drop;

-- name: movielens_link_stage_create
-- links.csv as read.
create temp table movielens_link_stage (
    line bigint not null, movieid text, imdbid text, tmdbid text
) on commit drop;

-- name: movielens_title_stage_create
-- movies.csv titles split (graph/importers/movielens.py): title, year, alternative titles.
create temp table movielens_title_stage (
    line bigint primary key, title text not null, year integer, alternatives text[] not null
) on commit drop;

-- name: movielens_film_stage_create
-- One film per MovieLens movie with a link: IMDb id, title, year, alternative titles, TMDB
-- id, genres.
create temp table movielens_film_stage (
    imdb_id text primary key, line bigint not null, title text not null, year integer,
    alternatives text[] not null, tmdb_id integer, genres text
) on commit drop;

-- name: movielens_movie_titles
-- The staged movies' titles as written, to be split.
select line, title from movielens_movie_stage;

-- name: movielens_movies_check
-- Why a movies.csv row is rejected, or null to keep it: a malformed id or an empty title.
select line, case
    when movieid !~ '^[0-9]{1,9}$' then 'bad movieId ' || quote_literal(left(movieid, 20))
    when btrim(title) = '' then 'empty title'
end as reason
from movielens_movie_stage;

-- name: movielens_links_nulls
-- An empty tmdbId as pandas also writes it: "NaN" (to_csv(na_rep="NaN")) or "nan" (the column
-- turned to text). It was "bad tmdbId 'NaN'", and the movie went with its row.
update movielens_link_stage set tmdbid = '' where tmdbid in ('NaN', 'nan');

-- name: movielens_links_check
-- Why a links.csv row is rejected, or null to keep it: a malformed id. An id written as a float
-- with a zero fraction (862.0) is that id: pandas reads tmdbId, which has empty cells, as floats.
select l.line, case
    when l.movieid !~ '^[0-9]{1,9}$' then 'bad movieId ' || quote_literal(left(l.movieid, 20))
    when l.imdbid !~ '^[0-9]{1,10}(\.0+)?$' then 'bad imdbId ' || quote_literal(left(l.imdbid, 20))
    when l.tmdbid <> '' and l.tmdbid !~ '^0*[1-9][0-9]{0,8}(\.0+)?$'
        then 'bad tmdbId ' || quote_literal(left(l.tmdbid, 20))
end as reason
from movielens_link_stage l;

-- name: movielens_links_dangling
-- Leave out links.csv rows whose movieId movies.csv does not have (an extract's references,
-- not bad rows); return how many, and the lines and movieIds of the first $1.
with gone as (
    delete from movielens_link_stage l
    where not exists (select 1 from movielens_movie_stage m where m.movieid = l.movieid)
    returning l.line, l.movieid
)
select count(*) as dangling, (array_agg(line order by line))[1:$1] as lines,
       (array_agg(movieid order by line))[1:$1] as refs
from gone;
-- name: movielens_movies_repeated
-- movies.csv rows whose movieId a later row gives again with another title or genres: the
-- later row is the movie (movielens_films_stage), and each replaced row is warned of. The same
-- row again (copies joined) is not. Returns how many, and the lines and warnings of the
-- first $1.
with last as (
    select distinct on (movieid) movieid, line, title, genres from movielens_movie_stage
    order by movieid, line desc
), replaced as (
    select m.line,
           'movieId ' || m.movieid || ' again on line ' || w.line || ' with another title or '
           || 'genres: one movie, with line ' || w.line || '''s' as reason
    from movielens_movie_stage m
    join last w on w.movieid = m.movieid and w.line <> m.line
    where (m.title, m.genres) is distinct from (w.title, w.genres)
)
select (select count(*) from replaced) as replaced,
       (select (array_agg(line order by line))[1:$1] from replaced) as lines,
       (select (array_agg(reason order by line))[1:$1] from replaced) as reasons;

-- name: movielens_films_stage
-- Films of linked movies (the last row of a duplicated id winning), with their titles as
-- split in movielens_title_stage. Returns how many films; how many movies had no link, with
-- the movies.csv lines and movieIds of the first $1; and how many links.csv rows a later row
-- with the same IMDb id replaced, with the warnings of the first $2.
with linked as (
    select 'tt' || lpad(i.digits, greatest(7, length(i.digits)), '0') as imdb_id,
           l.line, l.movieid, t.title, t.year, t.alternatives,
           nullif(split_part(l.tmdbid, '.', 1), '')::integer as tmdb_id,
           nullif(m.genres, '(no genres listed)') as genres
    from movielens_link_stage l
    -- IMDb's ids have 7 digits or more (tt15398776): lpad(x, 7) would cut an 8-digit id to 7.
    cross join lateral (select ltrim(split_part(l.imdbid, '.', 1), '0') as digits) i
    join (select distinct on (movieid) * from movielens_movie_stage
          order by movieid, line desc) m on m.movieid = l.movieid
    join movielens_title_stage t on t.line = m.line
), films as (
    insert into movielens_film_stage (imdb_id, line, title, year, alternatives, tmdb_id, genres)
    select distinct on (imdb_id) imdb_id, line, title, year, alternatives, tmdb_id, genres
    from linked
    order by imdb_id, line desc
    returning 1
), unlinked as (
    select m.line, m.movieid from movielens_movie_stage m
    where not exists (select 1 from movielens_link_stage l where l.movieid = m.movieid)
), merged as (
    select l.line,
           'movieId ' || l.movieid || ' has the IMDb id ' || l.imdb_id || ' of movieId '
           || w.movieid || ' (line ' || w.line || '): one film, with line ' || w.line
           || '''s title, genres and tmdbId' as reason
    from linked l
    join (select distinct on (imdb_id) imdb_id, line, movieid, tmdb_id from linked
          order by imdb_id, line desc) w on w.imdb_id = l.imdb_id and w.line <> l.line
    -- The same row again (copies joined): one film, nothing to warn of.
    where not (l.movieid = w.movieid and l.tmdb_id is not distinct from w.tmdb_id)
)
select (select count(*) from films) as films,
       (select count(*) from unlinked) as unlinked,
       (select (array_agg(line order by line))[1:$1] from unlinked) as unlinked_lines,
       (select (array_agg(movieid order by line))[1:$1] from unlinked) as unlinked_refs,
       (select count(*) from merged) as merged,
       (select (array_agg(line order by line))[1:$2] from merged) as merged_lines,
       (select (array_agg(reason order by line))[1:$2] from merged) as merged_reasons;
-- name: movielens_tmdb_clashes
-- A TMDB id given to several films goes to one: a film of the graph that has it already, else
-- the first in links.csv. The others stay in the stage without it. Returns how many, and the
-- lines and warnings of the first $1.
with holder as (
    select s.imdb_id, coalesce(f.imdb_id, f.slug) as owner
    from movielens_film_stage s
    join film f on f.tmdb_id = s.tmdb_id and f.imdb_id is distinct from s.imdb_id
), keeper as (
    select distinct on (s.tmdb_id) s.tmdb_id, s.imdb_id
    from movielens_film_stage s
    where s.tmdb_id is not null
    order by s.tmdb_id,
             not exists (select 1 from film f
                         where f.tmdb_id = s.tmdb_id and f.imdb_id = s.imdb_id),
             s.line
), clashes as (
    select s.imdb_id, s.line, s.tmdb_id, coalesce(h.owner, k.imdb_id) as owner
    from movielens_film_stage s
    join keeper k on k.tmdb_id = s.tmdb_id
    left join holder h on h.imdb_id = s.imdb_id
    where h.owner is not null or k.imdb_id <> s.imdb_id
), cleared as (
    update movielens_film_stage s set tmdb_id = null
    from clashes c
    where s.imdb_id = c.imdb_id
    returning c.line,
              'tmdbId ' || c.tmdb_id || ' also belongs to ' || c.owner
              || '; kept there, ' || c.imdb_id || ' imported without it' as reason
)
select (select count(*) from cleared) as clashes,
       (select (array_agg(line order by line))[1:$1] from cleared) as lines,
       (select (array_agg(reason order by line))[1:$1] from cleared) as reasons;

-- name: movielens_films_update
-- Give films already in the graph their TMDB id; return how many changed.
with changed as (
    update film f set tmdb_id = s.tmdb_id
    from movielens_film_stage s
    where f.imdb_id = s.imdb_id and s.tmdb_id is not null
      and f.tmdb_id is distinct from s.tmdb_id
    returning 1
)
select count(*) from changed;

-- name: movielens_films_insert
-- Add the films the graph does not have yet, slugged like IMDb imports; return how many.
with new as (
    select s.*, coalesce(nullif(slugify(s.title || coalesce(' ' || s.year, '')), ''), 'film')
                as base
    from movielens_film_stage s
    where not exists (select 1 from film f where f.imdb_id = s.imdb_id)
), ranked as (
    select new.*, row_number() over (partition by base order by imdb_id) as rn from new
), added as (
    insert into film (slug, title, year, imdb_id, tmdb_id)
    select case when rn = 1 and not exists (select 1 from film f where f.slug = base)
                then base else base || '-' || imdb_id end,
           title, year, imdb_id, tmdb_id
    from ranked
    returning 1
)
select count(*) from added;

-- name: movielens_film_genres_stage
-- The linked movies' genres (pipe-separated), and a null for each linked movie (its
-- MovieLens genre links are brought in line), for graph/importers/genres.py. "IMAX" is a
-- format the film was shown in, not a genre.
insert into import_genre_stage (imdb_id, name)
select s.imdb_id, btrim(g)
from movielens_film_stage s, unnest(string_to_array(s.genres, '|')) g
where btrim(g) not in ('', 'IMAX')
union all
select s.imdb_id, null from movielens_film_stage s;

-- name: movielens_alternative_titles_merge
-- The linked movies' alternative titles (the parenthesized parts of their MovieLens titles),
-- at orderings from 1,000,001: IMDb's own (title.akas) stop at 999,999. Returns inserted,
-- updated and total.
with wanted as (
    select f.id as film_id, 1000000 + a.n::integer as ordering, a.title
    from movielens_film_stage s
    join film f on f.imdb_id = s.imdb_id
    cross join lateral unnest(s.alternatives) with ordinality as a(title, n)
), merged as (
    insert into film_alternative_title (film_id, ordering, title)
    select film_id, ordering, title from wanted
    on conflict (film_id, ordering) do update set title = excluded.title
    where film_alternative_title.title is distinct from excluded.title
    returning (xmax = 0) as inserted
)
select count(*) filter (where inserted) as inserted,
       count(*) filter (where not inserted) as updated,
       (select count(*) from wanted) as total
from merged;

-- name: movielens_alternative_titles_prune
-- MovieLens alternative titles (orderings from 1,000,001) of the linked movies that their
-- titles no longer give. Returns how many.
with gone as (
    delete from film_alternative_title t
    using movielens_film_stage s join film f on f.imdb_id = s.imdb_id
    where t.film_id = f.id and t.ordering > 1000000
      and t.ordering > 1000000 + cardinality(s.alternatives)
    returning 1
)
select count(*) from gone;

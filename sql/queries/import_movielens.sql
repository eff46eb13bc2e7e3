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

-- name: movielens_film_stage_create
-- One film per MovieLens movie with a link: IMDb id, title and year split, TMDB id, genres.
create temp table movielens_film_stage (
    imdb_id text primary key, line bigint not null, title text not null, year integer,
    tmdb_id integer, genres text
) on commit drop;

-- name: movielens_movies_check
-- Why a movies.csv row is rejected, or null to keep it: a malformed id or an empty title.
select line, case
    when movieid !~ '^[0-9]{1,9}$' then 'bad movieId ' || quote_literal(left(movieid, 20))
    when btrim(title) = '' then 'empty title'
end as reason
from movielens_movie_stage;

-- name: movielens_links_check
-- Why a links.csv row is rejected, or null to keep it: a malformed id, or a movieId that movies.csv
-- does not have.
select l.line, case
    when l.movieid !~ '^[0-9]{1,9}$' then 'bad movieId ' || quote_literal(left(l.movieid, 20))
    when l.imdbid !~ '^[0-9]{1,10}$' then 'bad imdbId ' || quote_literal(left(l.imdbid, 20))
    when l.tmdbid <> '' and l.tmdbid !~ '^0*[1-9][0-9]{0,8}$'
        then 'bad tmdbId ' || quote_literal(left(l.tmdbid, 20))
    when m.movieid is null then 'unknown movieId ' || l.movieid
end as reason
from movielens_link_stage l
left join (select distinct movieid from movielens_movie_stage) m on m.movieid = l.movieid;

-- name: movielens_films_stage
-- Films of linked movies (the last row of a duplicated id winning): "Title, The (1995)"
-- becomes "The Title" of 1995. Returns how many movies had no link.
with films as (
    insert into movielens_film_stage (imdb_id, line, title, year, tmdb_id, genres)
    select distinct on (imdb_id) imdb_id, line, title, year, tmdb_id, genres
    from (
        select 'tt' || lpad(ltrim(l.imdbid, '0'), 7, '0') as imdb_id, l.line,
               regexp_replace(
                   btrim(coalesce(t.m[1], m.title)), '^(.*), (The|A|An)$', '\2 \1') as title,
               case when t.m[2]::integer between 1870 and 2100 then t.m[2]::integer end as year,
               nullif(l.tmdbid, '')::integer as tmdb_id,
               nullif(m.genres, '(no genres listed)') as genres
        from movielens_link_stage l
        join (select distinct on (movieid) * from movielens_movie_stage
              order by movieid, line desc) m on m.movieid = l.movieid
        cross join lateral (
            select regexp_match(m.title, '^(.*\S)\s*\(([0-9]{4})(?:[-–][0-9]{0,4})?\)\s*$') as m
        ) t
    ) linked
    order by imdb_id, line desc
    returning 1
)
select (select count(*) from movielens_movie_stage m
        where not exists (select 1 from movielens_link_stage l where l.movieid = m.movieid))
       as unlinked,
       (select count(*) from films) as films;

-- name: movielens_tmdb_check
-- Reject links whose TMDB id another film already has (in the graph or earlier in the file).
with taken as (
    select s.imdb_id, s.line, s.tmdb_id, coalesce(f.imdb_id, f.slug) as owner
    from movielens_film_stage s
    join film f on f.tmdb_id = s.tmdb_id and f.imdb_id is distinct from s.imdb_id
    union all
    select s.imdb_id, s.line, s.tmdb_id, first_value(s.imdb_id) over w
    from movielens_film_stage s
    where s.tmdb_id is not null
    window w as (partition by s.tmdb_id order by s.line)
), clashes as (
    select distinct on (imdb_id) imdb_id, line, tmdb_id, owner from taken
    where owner <> imdb_id
    order by imdb_id, line
), gone as (
    delete from movielens_film_stage s using clashes c
    where s.imdb_id = c.imdb_id
    returning c.line, 'tmdbId ' || c.tmdb_id || ' already belongs to ' || c.owner as reason
)
select (select count(*) from gone) as rejected, 0::bigint as skipped,
       array_agg($2::text) as files, array_agg(line order by line) as lines,
       array_agg(reason order by line) as reasons
from (select line, reason from gone order by line limit $1) listed;

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
-- The linked movies' genres (pipe-separated), for import_genres_insert.
insert into import_genre_stage (imdb_id, name)
select s.imdb_id, btrim(g)
from movielens_film_stage s, unnest(string_to_array(s.genres, '|')) g
where btrim(g) <> '';

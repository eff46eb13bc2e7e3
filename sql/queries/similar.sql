-- Film.similar (graph/similar.py): films ranked by the people and genres they share with a
-- film and by how close their years are.

-- name: similar_films_by_film_id
-- The films most like film $1, best first, at most $2.
-- Candidates: the films of its people who have fewer than $3 credits (credit_tally's count;
-- a person on thousands of films links films that have little else in common, and reading
-- their filmography would read a quarter of the catalogue: they still count in a
-- candidate's score), the $5 of those that share the most such people (then by id); and up
-- to $4 films of its year that share a genre (by id).
-- Score: 3 per shared person, 1 per shared genre, and up to 1 for the year
-- (1 - |year distance| / 10, not below 0; 0 when either year is unknown); ties by film id.
-- Shared people and genres are counted by one join over the candidates' own credits and
-- genres (read by film: a dozen index entries each), never by probing the film's people's
-- filmographies per candidate. A candidate's year comes with it (credit's copy of its film's
-- year, migration 0009; film_year_idx for the films of the year), so only the $2 films kept
-- are read from film.
-- Each row is the film's, with the shared people and genres (ids, and their rows as JSON, by
-- id), the year distance and the score.
with mine as materialized (
    select f.year, array(select g.genre_id from film_genre g where g.film_id = f.id) as genres
    from film f
    where f.id = $1
), people as materialized (
    select c.person_id,
           (select sum(t.films) from credit_tally t where t.person_id = c.person_id) as credits
    from credit c
    where c.film_id = $1
    group by c.person_id
), by_people as (
    select c.film_id, min(c.film_year) as year
    from people p
    join credit c on c.person_id = p.person_id
    where p.credits < $3 and c.film_id <> $1
    group by c.film_id
    order by count(distinct c.person_id) desc, c.film_id
    limit $5
), by_genre as (
    -- Its year as a value (not a join), so that the scan starts at that year in film_year_idx.
    select f.id as film_id, f.year
    from film f
    where coalesce(f.year, 0) = (select coalesce(m.year, 0) from mine m) and f.id <> $1
      and exists (select from film_genre g, mine m
                  where g.film_id = f.id and g.genre_id = any(m.genres))
    order by coalesce(f.year, 0), f.id
    limit $4
), candidate as materialized (
    select film_id, year from by_people
    union
    select film_id, year from by_genre
), shared_people as (
    -- The candidates' credits, kept when the person is one of the film's: the filter is in
    -- the aggregate, so credit is read by film (its unique key), whoever the people are.
    select k.film_id,
           array_agg(distinct c.person_id order by c.person_id)
               filter (where c.person_id in (select person_id from people)) as people
    from candidate k
    join credit c on c.film_id = k.film_id
    group by k.film_id
), shared_genres as (
    select k.film_id,
           array_agg(g.genre_id order by g.genre_id)
               filter (where g.genre_id = any(mine.genres)) as genres
    from candidate k
    join film_genre g on g.film_id = k.film_id
    cross join mine
    group by k.film_id
), scored as (
    select k.film_id,
           coalesce(sp.people, '{}') as people,
           coalesce(sg.genres, '{}') as genres,
           abs(k.year - mine.year) as year_distance
    from candidate k
    cross join mine
    left join shared_people sp on sp.film_id = k.film_id
    left join shared_genres sg on sg.film_id = k.film_id
)
select f.*, r.film_id, r.people, r.genres, r.year_distance, r.score,
       (select json_agg(p order by p.id) from person p where p.id = any(r.people)) as people_rows,
       (select json_agg(g order by g.id) from genre g where g.id = any(r.genres)) as genre_rows
from (
    select s.*,
           3 * cardinality(s.people) + cardinality(s.genres)
             + coalesce(greatest(0, 1 - s.year_distance / 10.0), 0) as score
    from scored s
    order by score desc, s.film_id
    limit $2
) r
join film f on f.id = r.film_id
order by r.score desc, r.film_id;

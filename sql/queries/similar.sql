-- Film.similar (graph/similar.py): films ranked by the people and genres they share with a
-- film and by how close their years are.

-- name: similar_films_by_film_id
-- The films most like film $1, best first, at most $2. Candidates: the films of its people
-- who have fewer than $3 credits (a person on thousands of films links films that have little
-- else in common; they still count in a candidate's score), the $5 of those that share the
-- most such people; and films of its year that share a genre, at most $4. Score: 3 per shared
-- person, 1 per shared genre, and up to 1 for the year (1 - |year distance| / 10, not below
-- 0; 0 when either year is unknown). Each row is the film's, with the shared people and
-- genres (ids, and their rows as JSON, by id), the year distance and the score.
with mine as (
    select f.year,
           array(select distinct c.person_id from credit c where c.film_id = $1) as people,
           array(select g.genre_id from film_genre g where g.film_id = $1) as genres
    from film f
    where f.id = $1
), linking as (
    select p.person_id
    from mine, unnest(mine.people) as p(person_id)
    where (select count(*) from (select from credit c where c.person_id = p.person_id limit $3) x)
        < $3
), by_people as (
    select c.film_id
    from credit c
    where c.person_id in (select person_id from linking) and c.film_id <> $1
    group by c.film_id
    order by count(distinct c.person_id) desc, c.film_id
    limit $5
), by_genre as (
    select f.id as film_id
    from film f, mine
    where coalesce(f.year, 0) = coalesce(mine.year, 0) and f.id <> $1
      and exists (select from film_genre g where g.film_id = f.id and g.genre_id = any(mine.genres))
    limit $4
), scored as (
    select k.film_id,
           array(select distinct c.person_id from credit c
                 where c.film_id = k.film_id and c.person_id = any(mine.people)
                 order by c.person_id) as people,
           array(select g.genre_id from film_genre g
                 where g.film_id = k.film_id and g.genre_id = any(mine.genres)
                 order by g.genre_id) as genres,
           abs(f.year - mine.year) as year_distance
    from (select film_id from by_people union select film_id from by_genre) k
    join film f on f.id = k.film_id
    cross join mine
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

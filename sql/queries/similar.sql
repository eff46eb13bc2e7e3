-- Film.similar (graph/similar.py): films ranked by the people and genres they share with a
-- film and by how close their years are.

-- name: similar_films_by_film_id
-- The films most like film $1, best first, at most $2. Candidates are the films of its people
-- who have fewer than $3 credits (a person on thousands of films links films that have little
-- else in common; they still count in a candidate's score), and its year's films that share
-- a genre, at most $4 of those. Score: 3 per shared person, 1 per shared genre, and up to 1
-- for the year (1 - |year distance| / 10, not below 0; 0 when either year is unknown).
with me as (
    select f.id, f.year from film f where f.id = $1
), my_people as (
    select distinct c.person_id from credit c where c.film_id = $1
), my_genres as (
    select g.genre_id from film_genre g where g.film_id = $1
), linking as (
    select p.person_id from my_people p
    where (select count(*) from (select from credit c where c.person_id = p.person_id limit $3) x)
        < $3
), candidate as (
    select c.film_id from credit c
    where c.person_id in (select person_id from linking) and c.film_id <> $1
    union
    (select f.id from film f, me
     where coalesce(f.year, 0) = coalesce(me.year, 0) and f.id <> $1
       and exists (select from film_genre g
                   where g.film_id = f.id and g.genre_id in (select genre_id from my_genres))
     limit $4)
), scored as (
    select k.film_id,
           array(select distinct c.person_id from credit c
                 where c.film_id = k.film_id and c.person_id in (select person_id from my_people)
                 order by c.person_id) as people,
           array(select g.genre_id from film_genre g
                 where g.film_id = k.film_id and g.genre_id in (select genre_id from my_genres)
                 order by g.genre_id) as genres,
           abs(f.year - me.year) as year_distance
    from candidate k
    join film f on f.id = k.film_id
    cross join me
)
select film_id, people, genres, year_distance,
       3 * cardinality(people) + cardinality(genres)
         + coalesce(greatest(0, 1 - year_distance / 10.0), 0) as score
from scored
order by score desc, film_id
limit $2;

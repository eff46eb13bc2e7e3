-- Person.collaborators, Collaborator.films and Query.commonFilms (graph/collaborators.py).

-- name: collaborators_page_by_person_id (paged)
-- The people who share films with person $5, most shared films first (then by name), with
-- how many they share; $6 a role: only collaborators who held it on a shared film (and only
-- those films count). Wrapped in graph/db.py's pagination fragment ($1-$4).
select $5::bigint as parent,
       row_number() over (order by s.shared desc, p.name, p.id) as rn,
       p.*, s.shared
from (
    select c2.person_id, count(distinct c2.film_id) as shared
    from credit c1
    join credit c2 on c2.film_id = c1.film_id and c2.person_id <> c1.person_id
    where c1.person_id = $5::bigint and ($6::text is null or c2.role = $6::text)
    group by c2.person_id
) s
-- Each collaborator's row by its key (not flattened: a hash join would read every person).
cross join lateral (select p.* from person p where p.id = s.person_id offset 0) p;

-- name: shared_films_by_people
-- For pairs of people ($1[i], $2[i]): the films both are credited on (the second in role $4
-- when given), newest first, at most $3 per pair. Driven from the first person's credits
-- (the person whose collaborators are listed: the most frequent are often the catalogue's
-- most prolific people).
select k.a as person_id, k.b as other_id, f.*
from unnest($1::bigint[], $2::bigint[]) as k(a, b)
cross join lateral (
    select f.*
    from (
        select distinct c.film_id from credit c
        where c.person_id = k.a
          -- Probed film by film (a subplan): as a semi-join, PostgreSQL would read all the
          -- credits of the other person, who may be on a quarter of all films.
          and (select true from credit d
               where d.film_id = c.film_id and d.person_id = k.b
                 and ($4::text is null or d.role = $4::text)
               limit 1)
    ) s
    join film f on f.id = s.film_id
    order by f.year desc nulls last, f.title, f.id
    limit $3
) f;

-- name: common_films_page (paged)
-- The films every person of $5 (distinct ids) is credited on, newest first: the films of the
-- one with the fewest credits (counted up to 10,000), kept when none of the others is
-- missing from them. Two of the most prolific people of a large catalogue share tens of
-- thousands of films: counting them all can take seconds (then TIMEOUT). Wrapped in graph/db.py's pagination fragment ($1-$4).
with rarest as (
    select p.id
    from unnest($5::bigint[]) as p(id)
    order by (select count(*) from (select from credit c where c.person_id = p.id limit 10000) x),
             p.id
    limit 1
)
select 0::bigint as parent,
       row_number() over (order by f.year desc nulls last, f.title, f.id) as rn,
       f.*
from film f
where f.id in (
    select c.film_id from credit c
    where c.person_id = (select id from rarest)
      and not exists (
          select from unnest($5::bigint[]) as o(id)
          where not exists (
              select from credit d where d.film_id = c.film_id and d.person_id = o.id))
);

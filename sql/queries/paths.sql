-- The statements of Query.path (graph/paths.py): a breadth-first search from both people at
-- once, one statement per step. A frontier is an array of person ids; every statement is
-- driven from the credits of the people it is given, by credit_person_role_idx, and probes
-- films by the credit's unique (film_id, role, person_id).

-- name: path_people
-- The two ends: whether each exists, and how many credits they have (counted up to $3: a
-- measure of how dear their side is to walk, not a total).
select k.id, (select count(*) from (select from credit c where c.person_id = k.id limit $3) x)
    as degree
from unnest(array[$1::bigint, $2::bigint]) as k(id)
where exists (select from person p where p.id = k.id);

-- name: path_meeting
-- A film with a person of frontier $1 and a person of frontier $2, if any: a chain one film
-- longer than the two frontiers' depths. Driven from $1 (the side with fewer credits); each
-- film probed is read by its own credits (the unique key's film_id, a dozen entries), and
-- the statement stops at its first film. The test for $2 is in the aggregate's filter, not
-- in a WHERE clause, so that it can never become an index condition: as one
-- (person_id = any($2) and film_id = ...) on credit_person_role_idx, each film probed cost
-- an index descent per person of $2 and role (a far frontier of 1,004 people, 394,088
-- buffers for 48 films: past the statement timeout).
select a.person_id as near, a.film_id, m.person_id as far
from credit a
cross join lateral (
    select (array_agg(b.person_id order by b.person_id)
                filter (where b.person_id = any($2::bigint[]) and b.person_id <> a.person_id))[1]
               as person_id
    from credit b
    where b.film_id = a.film_id
) m
where a.person_id = any($1::bigint[]) and m.person_id is not null
limit 1;

-- name: path_expansion
-- The next frontier: everyone who shares a film with a person of frontier $1, once each, with
-- the person and film that reached them first. At most $2 links (credit pairs) are read;
-- `links` says how many were, so that reading $2 of them means the frontier was cut short
-- (graph/paths.py refuses to go on). `degree` weighs the new frontier: its people's credits
-- (but those of $1), counted up to $3 in all.
with link as materialized (
    select c2.person_id, c1.person_id as via, c1.film_id
    from credit c1
    join credit c2 on c2.film_id = c1.film_id and c2.person_id <> c1.person_id
    where c1.person_id = any($1::bigint[])
    limit $2
), reached as materialized (
    select distinct on (person_id) person_id, via, film_id
    from link
    order by person_id, film_id, via
)
select r.person_id, r.via, r.film_id, w.links, w.degree
from reached r
cross join (
    select (select count(*) from link) as links,
           (select count(*) from (
                select from credit c
                where c.person_id = any(array(
                    select person_id from reached where person_id <> all($1::bigint[])))
                limit $3
            ) x) as degree
) w;

-- name: path_roles
-- Each hop's people's roles on its film: $1 film ids, $2 person ids, pairwise.
select k.film_id, k.person_id, array_agg(c.role order by c.role) as roles
from unnest($1::bigint[], $2::bigint[]) as k(film_id, person_id)
join credit c on c.film_id = k.film_id and c.person_id = k.person_id
group by k.film_id, k.person_id;

-- Person.collaborators, Collaborator.films and Query.commonFilms (graph/collaborators.py).

-- name: collaborators_page_by_person_id
-- The people who share films with person $5, most shared films first (then by name, id),
-- with how many they share; $6 a role: only collaborators who held it on a shared film (and
-- only those films count). With graph/db.py's page window and total ($1 after, $2 before,
-- $3 first, $4 last, as its PAGE_FRAGMENT), written out so that only the page's people are
-- read whole. Counted here for people below migration 0019's bound (the others' are counted
-- ahead: collaborators_page_counted), who have at most a few tens of thousands of
-- collaborators: the numbering takes their names one index probe each (a subquery), where
-- the planner, overestimating them, read the whole of person by a hash join (180 ms for a
-- person of 31 films on a loaded machine). Each of the person's films is read by its own
-- credits.
with shared as materialized (
    select c2.person_id, count(distinct c2.film_id) as shared
    from credit c1
    join credit c2 on c2.film_id = c1.film_id and c2.person_id <> c1.person_id
    where c1.person_id = $5::bigint and ($6::text is null or c2.role = $6::text)
    group by c2.person_id
), numbered as materialized (
    select row_number() over (
               order by s.shared desc, (select p.name from person p where p.id = s.person_id),
                        s.person_id
           ) as rn,
           s.person_id, s.shared
    from shared s
), total as (
    select count(*) as total from numbered
)
select $5::bigint as page_parent, t.total as page_total, $5::bigint as parent, n.rn, p.*,
       n.shared
from total t
left join numbered n
  on n.rn > $1::bigint
 and n.rn < least($2::bigint, t.total + 1)
 and ($3::bigint is null or n.rn <= $1::bigint + $3::bigint)
 and ($4::bigint is null or n.rn >= least($2::bigint, t.total + 1) - $4::bigint)
left join person p on p.id = n.person_id
order by n.rn;

-- name: collaborators_counted
-- Whether person $1's collaborators are counted ahead (migration 0019's hubs).
select exists (select from collaborator_hub h where h.person_id = $1::bigint);

-- name: collaborators_page_counted
-- collaborators_page_by_person_id for a hub, from its counted collaborations: $1 after,
-- $2 first (the field takes no last or before), $3 the person, $4 a role or null. The rank
-- index walks the person's collaborators most shared first; only the films counts that the
-- page reaches are sorted by name (incremental sort), and the total counts index entries.
with total as (
    select count(*) as total
    from collaboration c
    where c.person_id = $3::bigint and c.role = coalesce($4::text, 'ANY')
), page as (
    select c.other_id, c.shared
    from collaboration c
    join person o on o.id = c.other_id
    where c.person_id = $3::bigint and c.role = coalesce($4::text, 'ANY')
    order by c.shared desc, o.name, o.id
    offset $1::bigint
    limit $2::bigint
), numbered as (
    select $1::bigint + row_number() over (order by p.shared desc, o.name, o.id) as rn,
           p.other_id, p.shared
    from page p
    join person o on o.id = p.other_id
)
select $3::bigint as page_parent, t.total as page_total, $3::bigint as parent, n.rn, p.*,
       n.shared
from total t
left join numbered n on true
left join person p on p.id = n.other_id
order by n.rn;

-- name: shared_films_by_people
-- For pairs of people ($1[i], $2[i]): the films both are credited on (the second in role $4
-- when given), newest first (year desc nulls last, title, id), at most $3 per pair. Driven
-- from the credits of whichever of the two has fewer (credit_tally, "walked"), newest first by
-- their copies of the film's year and title (migration 0009), probing the other among each
-- film's own credits until $3 are found: the busiest person's collaborators are mostly busy
-- people too, and probing every film of person 1 (249,151 credits) for each of them took
-- past the statement timeout. The walked person's newest 2,000 credits are taken first (a
-- bounded sort, where sorting person 2's 61,877 took 90 ms, spilling to disk); all of them
-- only when those hold fewer than $3 shared films.
select k.a as person_id, k.b as other_id, f.*
from unnest($1::bigint[], $2::bigint[]) as k(a, b)
cross join lateral (
    select case when t.a_first then k.a else k.b end as walked,
           case when t.a_first then k.b else k.a end as probed,
           -- The role is the second person's: tested on whichever side they are.
           case when t.a_first then null else $4::text end as walked_role,
           case when t.a_first then $4::text end as probed_role,
           least(t.a_credits, t.b_credits) > 2000 as long
    from (
        select a_credits, b_credits, a_credits <= b_credits as a_first
        from (select coalesce((select sum(t.films) from credit_tally t
                               where t.person_id = k.a), 0) as a_credits,
                     coalesce((select sum(t.films) from credit_tally t
                               where t.person_id = k.b), 0) as b_credits) c
    ) t
) w
cross join lateral (
    with newest as materialized (
        select s.film_id, s.film_year, s.film_title
        from (
            -- Sorted and cut first, probed after (offset 0: the probe is not pushed under).
            select distinct on (c.film_year, c.film_title, c.film_id)
                   c.film_id, c.film_year, c.film_title
            from (select c.film_id, c.film_year, c.film_title
                  from credit c
                  where c.person_id = w.walked
                    and (w.walked_role is null or c.role = w.walked_role)
                  order by c.film_year desc nulls last, c.film_title, c.film_id
                  limit 2000) c
            order by c.film_year desc nulls last, c.film_title, c.film_id
            offset 0
        ) s
        where w.probed = any(array(select d.person_id from credit d
                                   where d.film_id = s.film_id
                                     and (w.probed_role is null or d.role = w.probed_role)))
        order by s.film_year desc nulls last, s.film_title, s.film_id
        limit $3
    )
    select n.film_id from newest n
    where not w.long or (select count(*) from newest) >= $3
    union all
    (select s.film_id
     from (
         select distinct on (c.film_year, c.film_title, c.film_id)
                c.film_id, c.film_year, c.film_title
         from credit c
         where w.long and (select count(*) from newest) < $3
           and c.person_id = w.walked and (w.walked_role is null or c.role = w.walked_role)
         order by c.film_year desc nulls last, c.film_title, c.film_id
         offset 0
     ) s
     where w.probed = any(array(select d.person_id from credit d
                                where d.film_id = s.film_id
                                  and (w.probed_role is null or d.role = w.probed_role)))
     order by s.film_year desc nulls last, s.film_title, s.film_id
     limit $3)
) s
join film f on f.id = s.film_id
order by k.a, k.b, f.year desc nulls last, f.title, f.id;

-- name: common_films_page_of_pair
-- common_films_page for two people of whom one at least is a hub (migration 0019): $1 after,
-- $2 first (commonFilms takes no last or before), $3 and $4 the people. The total is their
-- counted collaboration; the page walks the credits of whichever has fewer (credit_tally),
-- newest first by their copies of the film's year and title, and probes the other among
-- each film's credits until the page is full: persons 1 and 2 of the 1M catalogue (249,151
-- and 61,877 credits) sort person 2's and probe a few dozen films, where grouping both
-- people's 311,000 credits by film took 0.9 s.
with total as (
    select coalesce((
        select c.shared from collaboration c
        where c.role = 'ANY'
          and ((c.person_id = $3::bigint and c.other_id = $4::bigint)
               or (c.person_id = $4::bigint and c.other_id = $3::bigint))
        limit 1), 0) as total
), sides as (
    select case when coalesce((select sum(t.films) from credit_tally t
                               where t.person_id = $3::bigint), 0)
                  <= coalesce((select sum(t.films) from credit_tally t
                               where t.person_id = $4::bigint), 0)
                then $3::bigint else $4::bigint end as walked
), page as (
    select s.film_id, s.film_year, s.film_title
    from (
        -- Sorted first, probed after (offset 0: the probe is not pushed under the sort).
        select distinct on (c.film_year, c.film_title, c.film_id)
               c.film_id, c.film_year, c.film_title
        from credit c
        where c.person_id = (select walked from sides)
        order by c.film_year desc nulls last, c.film_title, c.film_id
        offset 0
    ) s
    where (select case when walked = $3::bigint then $4::bigint else $3::bigint end from sides)
          = any(array(select d.person_id from credit d where d.film_id = s.film_id))
    order by s.film_year desc nulls last, s.film_title, s.film_id
    offset $1::bigint
    limit $2::bigint
), numbered as (
    select $1::bigint + row_number() over (
               order by p.film_year desc nulls last, p.film_title, p.film_id) as rn,
           p.film_id
    from page p
)
select 0::bigint as page_parent, t.total as page_total, 0::bigint as parent, n.rn, f.*
from total t
left join numbered n on true
left join film f on f.id = n.film_id
order by n.rn;

-- name: common_films_pair_counted
-- Whether either of two people is a hub (migration 0019): common_films_page_of_pair serves.
select exists (select from collaborator_hub h where h.person_id in ($1::bigint, $2::bigint));

-- name: common_films_page
-- The films every person of $5 (distinct ids) is credited on, newest first (year desc nulls
-- last, title, id), with graph/db.py's page window and total ($1 after, $2 before, $3 first,
-- $4 last, as its PAGE_FRAGMENT): written out here so that film is read for the page's rows
-- only; the films are found and numbered from the credits, which carry their film's year and
-- title (migration 0009's copies, read from credit_filmography_idx).
-- Two ways to find them, chosen by the people's credit counts (credit_tally):
-- - the rarest person has under a fiftieth of the others' credits: each of that person's
--   films is checked by its own credits (read by film, a dozen entries each), so Slim Pickens
--   with the catalogue's busiest person reads Slim Pickens's films and no more;
-- - else everyone's credits are read once (each person's a contiguous index range) and
--   grouped by film: two people of 62,000 and 249,000 credits read 311,000 index entries,
--   where checking 50,000 films one by one read millions of buffers (past the timeout).
with asked as materialized (
    select p.id, coalesce((select sum(t.films) from credit_tally t where t.person_id = p.id), 0)
        as credits
    from unnest($5::bigint[]) as p(id)
), rarest as materialized (
    select a.id,
           a.credits * 50 < (select coalesce(sum(o.credits), 0) from asked o where o.id <> a.id)
               as alone
    from asked a
    order by a.credits, a.id
    limit 1
), common as materialized (
    select k.film_id, k.year, k.title
    from (
        select distinct c.film_id, c.film_year as year, c.film_title as title
        from credit c
        where c.person_id = (select id from rarest) and (select alone from rarest)
    ) k
    cross join lateral (
        -- The people are tested in the aggregate, so the film's credits are read by film.
        select count(distinct d.person_id) filter (where d.person_id = any($5::bigint[])) as n
        from credit d
        where d.film_id = k.film_id
    ) m
    where m.n = (select count(*) from asked)
    union all
    select c.film_id, min(c.film_year), min(c.film_title)
    from credit c
    where c.person_id = any($5::bigint[]) and not (select alone from rarest)
    group by c.film_id
    having count(distinct c.person_id) = (select count(*) from asked)
), numbered as materialized (
    select row_number() over (order by c.year desc nulls last, c.title, c.film_id) as rn,
           c.film_id
    from common c
), total as (
    select count(*) as total from numbered
)
select 0::bigint as page_parent, t.total as page_total, 0::bigint as parent, n.rn, f.*
from total t
left join numbered n
  on n.rn > $1::bigint
 and n.rn < least($2::bigint, t.total + 1)
 and ($3::bigint is null or n.rn <= $1::bigint + $3::bigint)
 and ($4::bigint is null or n.rn >= least($2::bigint, t.total + 1) - $4::bigint)
left join film f on f.id = n.film_id
order by n.rn;

-- Person.collaborators, Collaborator.films and Query.commonFilms (graph/collaborators.py).

-- name: collaborators_page
-- The people who share films with person $3, most shared films first (then by name, id),
-- with how many they share; $4 a role: only collaborators who held it on a shared film (and
-- only those films count). The page of $2 after position $1, numbered (rn), with the total
-- on every row (page_total) and one row with a null rn when the page is empty; each row
-- says whose collaborator it is (parent) and the role asked ($4, asked_role), which
-- Collaborator.films reads. One statement, so that the compiled path embeds it as the
-- resolvers run it: the busiest people's collaborators (migration 0019's hubs) are counted
-- ahead, and their rows read (the first part); anyone else's are counted here (the second);
-- each part runs only for the people it is for (a one-time filter on whether $3 is a hub).
with hub as materialized (
    select exists (select from collaborator_hub h where h.person_id = $3::bigint) as counted
)
-- A hub's page: the rank index walks the person's collaborators most shared first; only the
-- films counts that the page reaches are sorted by name (incremental sort), and the total
-- counts index entries.
select c.* from (
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
           n.shared, $4::text as asked_role
    from total t
    left join numbered n on true
    left join person p on p.id = n.other_id
) c
where (select h.counted from hub h)
union all
-- Anyone else's, counted from their films' credits: at most a few tens of thousands of
-- collaborators, whose numbering takes their names one index probe each (a subquery), where
-- the planner, overestimating them, read the whole of person by a hash join (180 ms for a
-- person of 31 films on a loaded machine). Each of the person's films is read by its own
-- credits.
select o.* from (
    with shared as materialized (
        select c2.person_id, count(distinct c2.film_id) as shared
        from credit c1
        join credit c2 on c2.film_id = c1.film_id and c2.person_id <> c1.person_id
        where c1.person_id = $3::bigint and ($4::text is null or c2.role = $4::text)
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
    select $3::bigint as page_parent, t.total as page_total, $3::bigint as parent, n.rn, p.*,
           n.shared, $4::text as asked_role
    from total t
    left join numbered n on n.rn > $1::bigint and n.rn <= $1::bigint + $2::bigint
    left join person p on p.id = n.person_id
) o
where not (select h.counted from hub h)
order by rn;

-- name: shared_films_by_people
-- For pairs of people ($1[i], $2[i]): the films both are credited on (the second in role $4
-- when given), newest first (year desc nulls last, title, id), at most $3 per pair. Driven
-- from the credits of whichever of the two has fewer (credit_tally, "walked"; the second's in
-- role $4 only: a director among the busiest people's collaborators has a fifth of their
-- credits as a director, and walking person 10's 16,657 credits for the directors among their
-- collaborators took 260-380 ms for ten of them, 85-120 ms walking those), newest first by
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
                               where t.person_id = k.b
                                 and ($4::text is null or t.role = $4::text)), 0) as b_credits) c
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

-- name: common_films_page
-- The films every person of $1 (repeats count once) is credited on, newest first (year desc
-- nulls last, title, id): the page of $3 after position $2, numbered (rn), with the total of
-- them on every row, and one row with a null rn when the page is empty. Found and numbered
-- by migration 0022's common_films_page_of (rarest person first, narrowed one person at a
-- time), the page's films read whole here.
select 0::bigint as page_parent, n.total as page_total, 0::bigint as parent, n.rn, f.*
from common_films_page_of($1::bigint[], $2::bigint, $3::bigint) n
left join film f on f.id = n.film_id
order by n.rn;

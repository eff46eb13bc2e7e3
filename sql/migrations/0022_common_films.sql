-- Query.commonFilms of any number of people in one call (issue 13), one statement that the
-- compiled path can embed as the resolvers run it (sql/queries/collaborators.sql,
-- common_films_page).
--
-- The films every one of several people is credited on were found by reading all their
-- credits and counting them by film, unless the rarest person had under a fiftieth of the
-- others' credits: persons 1, 2 and 3 of the 1M generated catalogue (249,151, 61,877 and
-- 42,754 credits) read 353,000 credits and counted them, 0.5 s, and the ten busiest 1.8 s.
-- Here the films are narrowed one person at a time, rarest first (credit_tally): the rarest's
-- films, then those of them the next person is on, and so on, each step in the cheaper of
-- two ways:
-- - read the next person's credits (one index range) and keep the films found among those
--   left (a hash of them): person 2's 61,877 credits against person 3's 42,289 films leave
--   4,086;
-- - when the films left are far fewer than the person's credits, look for the person among
--   each film's own credits (a few dozen index entries a film): 4,086 films for person 1,
--   where reading person 1's credits meant 249,151 index entries and a hash.
-- A step that leaves no film ends the search. Each step is planned for its own values
-- (plan_cache_mode): the films left, planned as an unknown array, count as 10 rows, and a
-- plan made for 10 read every credit of a person for each film.
--
-- Two people of whom one is a hub (migration 0019) keep their way: the total is their counted
-- collaboration and the page walks the rarer's films newest first, probing the other, until
-- the page is full (persons 1 and 2 share 19,848 films; the page reads a few dozen).
create function common_films_page_of(people bigint[], after bigint, first bigint)
    returns table (total bigint, rn bigint, film_id bigint)
    language plpgsql stable
    set plan_cache_mode = force_custom_plan
    set search_path from current as $$
#variable_conflict use_column
declare
    asked bigint[];
    credits bigint[];
    films bigint[];
    walked bigint;
    probed bigint;
begin
    -- The people, each once, rarest first.
    select coalesce(array_agg(a.id order by a.credits, a.id), '{}'),
           coalesce(array_agg(a.credits order by a.credits, a.id), '{}')
    into asked, credits
    from (select p.id,
                 coalesce((select sum(t.films) from credit_tally t where t.person_id = p.id), 0)
                     as credits
          from (select distinct u.id from unnest(people) as u(id)) p) a;
    if cardinality(asked) = 2
       and exists (select from collaborator_hub h where h.person_id = any(asked)) then
        walked := asked[1];
        probed := asked[2];
        return query
        with page as (
            select s.film_id, s.film_year, s.film_title
            from (
                -- Sorted first, probed after (offset 0: the probe is not pushed under it).
                select distinct on (c.film_year, c.film_title, c.film_id)
                       c.film_id, c.film_year, c.film_title
                from credit c
                where c.person_id = walked
                order by c.film_year desc nulls last, c.film_title, c.film_id
                offset 0
            ) s
            where probed = any(array(select d.person_id from credit d
                                     where d.film_id = s.film_id))
            order by s.film_year desc nulls last, s.film_title, s.film_id
            offset after
            limit first
        ), numbered as (
            select after + row_number() over (
                       order by p.film_year desc nulls last, p.film_title, p.film_id) as rn,
                   p.film_id
            from page p
        )
        select coalesce((select c.shared::bigint from collaboration c
                         where c.role = 'ANY' and c.person_id = any(asked)
                           and c.other_id = any(asked) and c.other_id <> c.person_id
                         limit 1), 0),
               n.rn, n.film_id
        from (select) one
        left join numbered n on true
        order by n.rn;
        return;
    end if;
    films := array(select c.film_id from credit c where c.person_id = asked[1]);
    for i in 2 .. cardinality(asked) loop
        exit when cardinality(films) = 0;
        if cardinality(films) * 40 < credits[i] then
            films := array(select f.id from unnest(films) f(id)
                           where asked[i] = any(array(select d.person_id from credit d
                                                      where d.film_id = f.id)));
        else
            films := array(select distinct c.film_id from credit c
                           where c.person_id = asked[i]
                             and c.film_id in (select unnest(films)));
        end if;
    end loop;
    return query
    with common as materialized (
        -- Their years and titles as the rarest's credits copy them (migration 0009).
        select c.film_id as id, min(c.film_year) as year, min(c.film_title) as title
        from credit c
        where c.person_id = asked[1]
          and (cardinality(asked) = 1 or c.film_id in (select unnest(films)))
        group by c.film_id
    ), numbered as (
        select row_number() over (order by c.year desc nulls last, c.title, c.id) as rn, c.id
        from common c
    )
    select (select count(*) from common), n.rn, n.id
    from (select) one
    left join numbered n on n.rn > after and n.rn <= after + first
    order by n.rn;
end $$;

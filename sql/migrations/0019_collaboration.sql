-- Person.collaborators of the catalogue's busiest people, counted ahead (issue 13).
--
-- A person's collaborators, most shared films first, were counted from their films' credits
-- at each request: at 1M generated films, 60 ms for a person of 1,000 credits, 150 ms for
-- 3,000, 8.9 s for person 2 (61,877) and past 20 s for person 1 (249,151), who shares films
-- with nearly every one of the 400,000 people. Counting every pair of people ahead is too big
-- to hold (each credit pairs with the dozen others of its film: ~130M pairs at 1M films), so
-- the pairs are counted ahead for the people whose count at request time is too slow, the
-- "hubs": people with at least collaboration_setting.min_credits credits (3,000: 101 people
-- at 1M films, 20M rows), and counted at request time for everyone else
-- (sql/queries/collaborators.sql).
--
-- collaboration holds, for each hub (person_id) and each person it shares a film with
-- (other_id): in role 'ANY', the number of films both are credited on; in each role R the
-- other held on a shared film, the number of shared films where the other held R. Exactly
-- what the request-time count answers, kept exact by a statement-level trigger on credit
-- whatever writes (importers, demo, a manual statement): it recounts the contributions of
-- the films a statement touched, as they were before it and as they are after, and adds the
-- difference. A person whose credits reach min_credits becomes a hub there and then; nobody
-- stops being one (their rows stay exact). Writers that fill an empty graph in bulk (the IMDb
-- first load, `filmgraph generate`) switch the trigger off and call collaborations_recount()
-- at the end, as the first load does with credit_tally.

-- One row: from how many credits a person's collaborators are counted ahead.
create table collaboration_setting (
    one         boolean primary key default true check (one),
    min_credits integer not null check (min_credits >= 1)
);
insert into collaboration_setting (min_credits) values (3000);

create table collaborator_hub (
    person_id bigint primary key references person (id) on delete cascade
);

create table collaboration (
    person_id bigint not null,
    role      text not null check (role in (
                  'ANY', 'DIRECTOR', 'WRITER', 'ACTOR', 'PRODUCER', 'COMPOSER',
                  'CINEMATOGRAPHER', 'EDITOR', 'OTHER')),
    other_id  bigint not null,
    -- No check (shared > 0): the trigger's upsert proposes negative differences, and a row
    -- it leaves at 0 is deleted by its next statement.
    shared    integer not null
);

-- Count hub's collaborations from scratch (their rows must not be there).
create function collaborations_count(hubs bigint[]) returns void
    language sql set search_path from current
begin atomic
    insert into collaboration (person_id, role, other_id, shared)
    select a.person_id, o.role, o.person_id, count(*)
    from (select distinct c.person_id, c.film_id from credit c
          where c.person_id = any(hubs)) a
    join credit o on o.film_id = a.film_id and o.person_id <> a.person_id
    group by a.person_id, o.role, o.person_id;
    insert into collaboration (person_id, role, other_id, shared)
    select a.person_id, 'ANY', o.person_id, count(distinct o.film_id)
    from (select distinct c.person_id, c.film_id from credit c
          where c.person_id = any(hubs)) a
    join credit o on o.film_id = a.film_id and o.person_id <> a.person_id
    group by a.person_id, o.person_id;
end;

-- Every hub chosen again by its credits (credit_tally) and counted from scratch.
create function collaborations_recount() returns void
    language plpgsql set search_path from current as $$
declare
    hubs bigint[];
begin
    delete from collaboration;
    delete from collaborator_hub;
    insert into collaborator_hub (person_id)
    select t.person_id from credit_tally t
    group by t.person_id
    having sum(t.films) >= (select s.min_credits from collaboration_setting s)
    order by t.person_id;
    select coalesce(array_agg(h.person_id), '{}') into hubs from collaborator_hub h;
    perform collaborations_count(hubs);
end $$;

select collaborations_recount();

alter table collaboration add primary key (person_id, role, other_id);
-- A hub's collaborators of one role, most shared films first (Person.collaborators).
create index collaboration_rank_idx on collaboration (person_id, role, shared desc, other_id);

-- The films a statement touched, counted before it and after it; the difference is added.
create function count_collaborations() returns trigger
    language plpgsql set search_path from current as $_$
declare
    gone_people bigint[];
    gone_roles text[];
    gone_others bigint[];
    grown bigint[];
begin
    execute format($q$
        with raw as (%s),
        -- An update that moves no credit (a character name, a billing order) changes nothing.
        delta as (
            select r.* from raw r
            where not exists (select from raw o
                              where o.id = r.id and o.n = -r.n and o.film_id = r.film_id
                                and o.person_id = r.person_id and o.role = r.role)
        ),
        touched as (select distinct d.film_id from delta d),
        state as (
            select 1 as n, c.film_id, c.person_id, c.role
            from credit c where c.film_id in (select t.film_id from touched t)
            union all
            select -1, c.film_id, c.person_id, c.role
            from credit c where c.film_id in (select t.film_id from touched t)
              and not exists (select from delta d where d.n = 1 and d.id = c.id)
            union all
            select -1, d.film_id, d.person_id, d.role from delta d where d.n = -1
        ), hubs_on as (
            select distinct s.n, s.film_id, s.person_id
            from state s join collaborator_hub h on h.person_id = s.person_id
        ), people_on as (
            select distinct s.n, s.film_id, s.person_id
            from state s where s.film_id in (select h.film_id from hubs_on h)
        ), changed as (
            select distinct d.film_id, d.person_id from delta d
        ), pairs as (
            -- Only pairs with a changed person on the film: the others count the same before
            -- and after (joining every hub of 50,000 films with the films' people, to find
            -- that, took 6 of the 8 s this trigger then added to an insert of 50,000
            -- credits at 1M films). Two ways, each pair once: a hub whose own credits on the
            -- film changed, with everyone on it; someone whose credits on it changed, with
            -- the film's hubs whose credits did not.
            select h.person_id, s.role, s.person_id as other_id, h.n
            from hubs_on h
            join changed c on c.film_id = h.film_id and c.person_id = h.person_id
            join state s on s.n = h.n and s.film_id = h.film_id and s.person_id <> h.person_id
            union all
            select h.person_id, s.role, s.person_id, h.n
            from state s
            join changed c on c.film_id = s.film_id and c.person_id = s.person_id
            join hubs_on h on h.n = s.n and h.film_id = s.film_id and h.person_id <> s.person_id
            where not exists (select from changed o
                              where o.film_id = h.film_id and o.person_id = h.person_id)
            union all
            select h.person_id, 'ANY', p.person_id, h.n
            from hubs_on h
            join changed c on c.film_id = h.film_id and c.person_id = h.person_id
            join people_on p on p.n = h.n and p.film_id = h.film_id
                            and p.person_id <> h.person_id
            union all
            select h.person_id, 'ANY', p.person_id, h.n
            from people_on p
            join changed c on c.film_id = p.film_id and c.person_id = p.person_id
            join hubs_on h on h.n = p.n and h.film_id = p.film_id and h.person_id <> p.person_id
            where not exists (select from changed o
                              where o.film_id = h.film_id and o.person_id = h.person_id)
        ), summed as (
            select p.person_id, p.role, p.other_id, sum(p.n)::integer as n
            from pairs p
            group by p.person_id, p.role, p.other_id
            having sum(p.n) <> 0
        ), counted as (
            insert into collaboration as t (person_id, role, other_id, shared)
            select s.person_id, s.role, s.other_id, s.n from summed s
            order by s.person_id, s.role, s.other_id
            on conflict (person_id, role, other_id) do update set shared = t.shared + excluded.shared
        )
        -- The pairs whose count fell, some maybe to 0: deleted by the next statement, which
        -- sees this one's updates.
        select array_agg(s.person_id), array_agg(s.role), array_agg(s.other_id)
        from summed s
        where s.n < 0
        $q$, changed_rows(tg_op, 'id, film_id, person_id, role'))
    into gone_people, gone_roles, gone_others;
    if gone_people is not null then
        delete from collaboration c
        using unnest(gone_people, gone_roles, gone_others) g(person_id, role, other_id)
        where c.person_id = g.person_id and c.role = g.role and c.other_id = g.other_id
          and c.shared = 0;
    end if;
    -- Someone whose credits reached the bound is counted ahead from now on.
    if tg_op <> 'DELETE' then
        execute format($q$
            with grown as (
                insert into collaborator_hub (person_id)
                select t.person_id from credit_tally t
                where t.person_id in (select d.person_id from (%s) d)
                group by t.person_id
                having sum(t.films) >= (select s.min_credits from collaboration_setting s)
                order by t.person_id
                on conflict do nothing
                returning person_id
            )
            select array_agg(g.person_id) from grown g
            $q$, changed_rows(tg_op, 'person_id'))
        into grown;
        if grown is not null then
            delete from collaboration c where c.person_id = any(grown);
            perform collaborations_count(grown);
        end if;
    end if;
    return null;
end $_$;

-- Named to fire after credit_tally's triggers (same event: by name), whose counts it reads.
create trigger credit_to_collaboration_insert
    after insert on credit referencing new table as new_rows
    for each statement execute function count_collaborations();
create trigger credit_to_collaboration_delete
    after delete on credit referencing old table as old_rows
    for each statement execute function count_collaborations();
create trigger credit_to_collaboration_update
    after update on credit referencing old table as old_rows new table as new_rows
    for each statement execute function count_collaborations();

create function forget_collaborations() returns trigger
    language plpgsql set search_path from current as $$
begin
    delete from collaboration;
    return null;
end $$;

create trigger credit_to_collaboration_truncate
    after truncate on credit
    for each statement execute function forget_collaborations();

-- A hub that goes (its person deleted) takes its rows along.
create function forget_hub_collaborations() returns trigger
    language plpgsql set search_path from current as $$
begin
    delete from collaboration c using old_rows o where c.person_id = o.person_id;
    return null;
end $$;

create trigger collaborator_hub_forget
    after delete on collaborator_hub referencing old table as old_rows
    for each statement execute function forget_hub_collaborations();

-- Statistics for the first requests (VACUUM, which would also let counts read the index
-- alone, cannot run in a migration's transaction: autovacuum sees to it for new rows).
analyze collaboration;

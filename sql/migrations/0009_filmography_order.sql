-- A person's filmography at 1M films: its first page and its count cost the same for a
-- director of 3 films and for one of 26,000.
--
-- Person.filmography is ordered by the films' year desc nulls last, release_date desc nulls
-- last, title, id (graph/mapping.py). That order lived only on film and the person only on
-- credit, so the ten newest of a director's films meant reading and sorting all of them, and
-- its totalCount counted them all: at 1M films the film page took 2.6 times as long as at 50k.
--
-- 1. Each credit carries its film's sort key (film_year, film_release_date, film_title), and
--    credit_filmography_idx holds a person's credits of one role in the filmography's order:
--    the first page is an index walk of `first` entries, a page further on one of
--    `after + first`. Triggers keep the copies right whoever writes (the importers, the demo,
--    generate, a manual UPDATE): a credit takes its film's values as it is written, and a
--    statement that changes films' keys rewrites their credits' copies.
-- 2. credit_tally holds how many films each person has in each role (a person holds a role
--    on a film once: credit's unique key), kept by statement-level triggers on credit, so a
--    filmography's totalCount for one role reads one row. Unlike film_tally (0003) it is one
--    counter row per (person, role), updated in place: concurrent writers of the same
--    person's credits wait for each other, which imports already do (one import at a time),
--    and the rows are locked in key order, so two writers cannot deadlock here.
alter table credit
    add column film_year integer,
    add column film_release_date date,
    add column film_title text;

-- Every credit is rewritten: with 12M credits (1M films), keeping credit's three indexes up
-- to date row by row took 14 minutes; dropped first and built again after, a few.
alter table credit drop constraint credit_pkey;
alter table credit drop constraint credit_film_id_role_person_id_key;
drop index credit_person_role_idx;
set local maintenance_work_mem = '256MB';

update credit c
set film_year = f.year, film_release_date = f.release_date, film_title = f.title
from film f
where f.id = c.film_id;

alter table credit add constraint credit_pkey primary key (id);
alter table credit add constraint credit_film_id_role_person_id_key
    unique (film_id, role, person_id);
create index credit_person_role_idx on credit (person_id, role, film_id);
create index credit_filmography_idx on credit (
    person_id, role, film_year desc nulls last, film_release_date desc nulls last, film_title,
    film_id
);

-- Trigger functions resolve names with the search_path they were created with (see 0003).
create function credit_film_key() returns trigger
    language plpgsql set search_path from current as $$
begin
    select f.year, f.release_date, f.title
    into new.film_year, new.film_release_date, new.film_title
    from film f
    where f.id = new.film_id;
    return new;
end $$;

-- Whatever a writer puts in the copies, they are the film's.
create trigger credit_film_key
    before insert or update of film_id, film_year, film_release_date, film_title on credit
    for each row execute function credit_film_key();

create function film_key_to_credits() returns trigger
    language plpgsql set search_path from current as $$
begin
    update credit c
    set film_year = n.year, film_release_date = n.release_date, film_title = n.title
    from new_rows n
    join old_rows o on o.id = n.id
    where c.film_id = n.id
      and (n.year, n.release_date, n.title) is distinct from (o.year, o.release_date, o.title);
    return null;
end $$;

create trigger film_key_to_credits
    after update on film
    referencing old table as old_rows new table as new_rows
    for each statement execute function film_key_to_credits();

create table credit_tally (
    person_id bigint not null,
    role      text not null,
    films     bigint not null,
    primary key (person_id, role)
);

insert into credit_tally (person_id, role, films)
select person_id, role, count(*) from credit group by person_id, role;

create function tally_credits() returns trigger
    language plpgsql set search_path from current as $_$
begin
    execute format($q$
        insert into credit_tally as t (person_id, role, films)
        select r.person_id, r.role, sum(r.n)
        from (%s) r
        group by r.person_id, r.role
        having sum(r.n) <> 0
        order by r.person_id, r.role
        on conflict (person_id, role) do update set films = t.films + excluded.films
        $q$, changed_rows(tg_op, 'person_id, role'));
    return null;
end $_$;

create trigger credit_tally_insert
    after insert on credit referencing new table as new_rows
    for each statement execute function tally_credits();
create trigger credit_tally_delete
    after delete on credit referencing old table as old_rows
    for each statement execute function tally_credits();
create trigger credit_tally_update
    after update on credit referencing old table as old_rows new table as new_rows
    for each statement execute function tally_credits();

create function forget_credit_tally() returns trigger
    language plpgsql set search_path from current as $$
begin
    delete from credit_tally;
    return null;
end $$;

create trigger credit_tally_truncate
    after truncate on credit
    for each statement execute function forget_credit_tally();

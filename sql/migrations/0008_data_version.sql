-- The data version: a number that every transaction writing to the graph's tables raises by
-- one as it commits, and announces on the channel filmgraph_data_version (payload: the new
-- version). Every server process listens (graph/dataversion.py), so it knows the version
-- from memory within a moment of a commit; HTTP caching keys its ETags and its response
-- cache by it (docs/caching.md). Imports, the demo load and any manual write raise it alike:
-- the triggers are on the tables, not in the code that writes.
--
-- The version is raised at commit, not at each write: a trigger that updated the one row at
-- each statement would hold that row's lock until the end of its transaction, and so make
-- every other writer wait for a whole import. Instead each writing statement records its
-- transaction in data_change (once: on conflict do nothing), and a deferred trigger on that
-- row raises the version as the transaction commits. Versions are therefore committed, and
-- announced, in order.
create table data_version (
    one     boolean primary key default true check (one),
    version bigint not null
);
insert into data_version (version) values (1);

-- The transactions that wrote and have not committed yet (a row lives until its commit).
create table data_change (
    xact xid8 primary key default pg_current_xact_id()
);

-- As the tally triggers (0003): names resolve with the search_path of the migration, not the
-- writer's (a restore sets it to '').
create function note_data_change() returns trigger
    language plpgsql set search_path from current
    as $$
begin
    insert into data_change default values on conflict do nothing;
    return null;
end
$$;

create function raise_data_version() returns trigger
    language plpgsql set search_path from current
    as $$
declare
    raised bigint;
begin
    delete from data_change where xact = new.xact;
    update data_version set version = version + 1 returning version into raised;
    perform pg_notify('filmgraph_data_version', raised::text);
    return null;
end
$$;

create constraint trigger data_version_at_commit
    after insert on data_change
    deferrable initially deferred
    for each row execute function raise_data_version();

-- Every table the API reads (film_tally and search_word follow from these).
create trigger film_data_version after insert or update or delete or truncate on film
    for each statement execute function note_data_change();
create trigger film_alternative_title_data_version
    after insert or update or delete or truncate on film_alternative_title
    for each statement execute function note_data_change();
create trigger genre_data_version after insert or update or delete or truncate on genre
    for each statement execute function note_data_change();
create trigger film_genre_data_version after insert or update or delete or truncate on film_genre
    for each statement execute function note_data_change();
create trigger person_data_version after insert or update or delete or truncate on person
    for each statement execute function note_data_change();
create trigger credit_data_version after insert or update or delete or truncate on credit
    for each statement execute function note_data_change();
create trigger provider_data_version after insert or update or delete or truncate on provider
    for each statement execute function note_data_change();
create trigger offer_data_version after insert or update or delete or truncate on offer
    for each statement execute function note_data_change();

-- film_key_to_credits (migration 0009) again, with the credits found by film: the join of the
-- trigger's two transition tables has no statistics, and the planner took 8,578 retitled films
-- of a daily IMDb re-import for 754,483, hashed all 13.4 million credits and spilled them in
-- 128 batches (21.1 s of the import's 4.2 minutes at full scale). The films whose copied
-- columns changed are collected first, and their credits are looked up by credit's film_id
-- index (as many lookups as films).
create or replace function film_key_to_credits() returns trigger
    language plpgsql set search_path from current as $$
declare
    moved bigint[];
begin
    select array_agg(n.id) into moved
    from new_rows n
    join old_rows o on o.id = n.id
    where (n.year, n.release_date, n.title) is distinct from (o.year, o.release_date, o.title);
    if moved is null then
        return null;
    end if;
    update credit c
    set film_year = n.year, film_release_date = n.release_date, film_title = n.title
    from new_rows n
    where c.film_id = any(moved) and n.id = c.film_id;
    return null;
end $$;

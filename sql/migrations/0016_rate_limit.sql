-- A rate limit shared by every process and server of a deployment (issue 14): one token
-- bucket per client, kept here when FILMGRAPH_RATE_LIMIT_STORE=postgres (graph/sharedlimit.py).
--
-- Unlogged: buckets are worth nothing after a crash (an emptied table only gives every client
-- a full bucket again), and writing them to the WAL would double what each update costs. For
-- the same reason a replica has none of it: the API reaches it on the primary only.
create unlogged table rate_limit_bucket (
    client text primary key,
    -- Points left at `at`; the bucket refills from there, by the database's clock.
    points double precision not null,
    at timestamptz not null
);

-- Takes points from `client`'s bucket (of `capacity` points, refilled at `per_second`), as a
-- process's lease: at least `need` (what the charge at hand needs), up to `lease`, or nothing
-- when the bucket holds less than `need`. Returns what it granted, and what the bucket held
-- before (so that a refusal can say how long to wait). One statement per lease; the row's lock
-- orders the processes that take from one bucket at once.
create function rate_limit_take(
    client text, capacity double precision, per_second double precision,
    need double precision, lease double precision,
    out granted double precision, out available double precision)
    language plpgsql
as $$
declare
    now_ timestamptz := clock_timestamp();
begin
    insert into rate_limit_bucket as b (client, points, at)
    values (rate_limit_take.client, capacity, now_)
    on conflict on constraint rate_limit_bucket_pkey do update
        set points = least(capacity,
                           b.points + extract(epoch from now_ - b.at)::float8 * per_second),
            at = now_
    returning b.points into available;
    granted := case when available >= need then least(available, greatest(need, lease)) else 0 end;
    if granted > 0 then
        update rate_limit_bucket b set points = b.points - granted
        where b.client = rate_limit_take.client;
    end if;
end
$$;

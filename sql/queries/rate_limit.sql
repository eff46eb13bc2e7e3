-- The shared rate limit (FILMGRAPH_RATE_LIMIT_STORE=postgres; graph/sharedlimit.py).

-- name: rate_limit_take
-- A lease of points from client $1's shared bucket (capacity $2, refilled at $3 a second): at
-- least $4, up to $5, or none; and what the bucket held.
select granted, available from rate_limit_take($1::text, $2::float8, $3::float8, $4::float8, $5::float8);

-- name: rate_limit_forget
-- Drops the buckets untouched for $1 seconds: refilled to the full by now, they hold nothing
-- a new bucket would not.
delete from rate_limit_bucket where at < clock_timestamp() - make_interval(secs => $1::float8);

-- Read replicas (graph/replicas.py): what the background check reads on each database.
-- WAL positions are bytes since 0/0, as bigint: compared as numbers, with no pg_lsn codec.

-- name: primary_wal_position
-- How far the primary has written its WAL, sampled at each check: a replica's lag is the
-- time since the primary was first past what the replica has replayed.
select pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint as position

-- name: replica_state
-- Whether a replica is one (in recovery), how far it has replayed the primary's WAL, and the
-- data version it has replayed (migration 0008): requests read from it only once that is the
-- version the server knows.
select pg_is_in_recovery() as in_recovery,
       pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0')::bigint as replayed,
       (select version from data_version) as version

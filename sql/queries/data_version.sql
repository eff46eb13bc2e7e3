-- The data version (migration 0008): raised by every committed write to the graph's tables.

-- name: data_version
-- What a server process starts from, and checks now and then (graph/dataversion.py).
select version from data_version

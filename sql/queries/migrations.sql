-- The record of applied migrations (graph/migrate.py).

-- name: migration_table_create
create table if not exists schema_migration (
    version    integer primary key,
    name       text not null,
    applied_at timestamptz not null default now()
);

-- name: migration_table_checksum
-- checksum: the sha256 of the file as applied. Databases migrated before filmgraph recorded
-- checksums gain the column here, empty; `filmgraph migrate` fills it once migration 0006 has
-- brought their schema into line. A fresh table goes through the same ALTER, so that both
-- end up alike.
alter table schema_migration add column if not exists checksum text;

-- name: migrations_applied
-- Readable in either shape of the table (before and after it had checksums), so that a
-- readiness probe can look without altering anything.
select version, name, to_jsonb(m) ->> 'checksum' as checksum
from schema_migration m
order by version;

-- name: migration_record
insert into schema_migration (version, name, checksum) values ($1, $2, $3);

-- name: migration_record_checksum
update schema_migration set checksum = $2 where version = $1 and checksum is null;

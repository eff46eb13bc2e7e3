-- Observability (issue 14): the rows imports have written, by table and outcome, added up
-- over every import that committed. /metrics reports them as filmgraph_import_rows_total:
-- imports run as commands of their own, so the database is where every API process (and
-- every server of a deployment) finds the same figures.
create table import_tally (
    table_name text not null,
    outcome text not null check (outcome in ('inserted', 'updated', 'unchanged', 'rejected', 'deleted')),
    rows bigint not null check (rows >= 0),
    primary key (table_name, outcome)
);

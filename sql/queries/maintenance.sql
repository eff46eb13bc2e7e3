-- Upkeep after bulk writes.

-- name: compact_film_tally
-- Fold the facet tally ledger into one row per value (migration 0003); returns the rows
-- folded away. Counts are exact either way; this keeps them cheap.
select compact_film_tally();

-- Query.resolveIds: external ids of several kinds, resolved together (graph/external.py).

-- name: nodes_by_external_id
-- For each id, in the order given ($1 kinds, $2 values as text, $3 as numbers: TMDB's), the film or person
-- that holds it: ord, entity ('Film' or 'Person') and id, or nulls when none does. Each kind
-- is an equality on a unique index.
select k.ord,
    coalesce(film.entity, person.entity) as entity,
    coalesce(film.id, person.id) as id
from unnest($1::text[], $2::text[], $3::int[]) with ordinality as k(kind, value, number, ord)
left join lateral (
    select 'Film' as entity, f.id from film f
    where (k.kind = 'imdb_title' and f.imdb_id = k.value)
       or (k.kind = 'tmdb_movie' and f.tmdb_id = k.number)
       or (k.kind = 'wikidata' and f.wikidata_id = k.value)
    limit 1
) film on true
left join lateral (
    select 'Person' as entity, p.id from person p
    where film.id is null and (
          (k.kind = 'imdb_name' and p.imdb_id = k.value)
       or (k.kind = 'tmdb_person' and p.tmdb_id = k.number)
       or (k.kind = 'wikidata' and p.wikidata_id = k.value))
    limit 1
) person on true
order by k.ord;

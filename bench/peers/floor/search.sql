-- The search page (bench/pages/search.graphql) as one statement returning filmgraph's `data`
-- for search text $1: the 20 most relevant films (ties newest id first), and the 10 best hits
-- over films, people, genres and providers (score, then that kind order, then id), matched
-- and scored as sql/queries/search.sql does.
with q as materialized (
    select fold($1::text) as text,
           typo_query($1::text, false) as films,
           typo_query($1::text, true) as people
), matches as materialized (
    select f.id, f.title, f.year, f.imdb_rating,
           (ts_rank('{0.1, 0.3, 0.6, 1.0}', f.search_vector, q.films)
            + similarity(fold(f.title), q.text))::float8 as score
    from film f, q
    where f.search_vector @@ q.films
), hits as (
    (select 'Film' as kind, 0 as rank, m.id, m.score, m.title as label
     from matches m order by m.score desc, m.id limit 10)
    union all
    (select 'Person', 1, p.id, name_match(p.name, q.text), p.name
     from person p, q
     where to_tsvector('simple', fold(p.name)) @@ q.people
     order by 4 desc, 3 limit 10)
    union all
    (select 'Genre', 2, g.id, name_match(g.name, q.text), null
     from genre g, q
     where fold(g.name) % q.text or fold(g.name) %> q.text
     order by 4 desc, 3 limit 10)
    union all
    (select 'Provider', 3, p.id, name_match(p.name, q.text), null
     from provider p, q
     where fold(p.name) % q.text or fold(p.name) %> q.text
     order by 4 desc, 3 limit 10)
)
select json_build_object(
    'films', json_build_object('nodes', (
        select coalesce(json_agg(json_build_object(
            'id', encode(convert_to('Film:' || x.id, 'UTF8'), 'base64'),
            'title', x.title,
            'year', x.year,
            'imdbRating', x.imdb_rating::float8) order by x.score desc, x.id desc), '[]')
        from (select * from matches order by score desc, id desc limit 20) x)),
    'search', (
        select coalesce(json_agg(case h.kind
            when 'Film' then json_build_object(
                '__typename', 'Film',
                'id', encode(convert_to('Film:' || h.id, 'UTF8'), 'base64'),
                'title', h.label)
            when 'Person' then json_build_object(
                '__typename', 'Person',
                'id', encode(convert_to('Person:' || h.id, 'UTF8'), 'base64'),
                'name', h.label)
            else json_build_object('__typename', h.kind)
            end order by h.score desc, h.rank, h.id), '[]')
        from (select * from hits order by score desc, rank, id limit 10) h))

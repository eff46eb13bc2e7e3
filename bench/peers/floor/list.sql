-- The list page (bench/pages/list.graphql) as one statement returning filmgraph's `data`:
-- the 100 best-rated films (unrated last, ties newest id first), directors and genres.
select json_build_object('films', json_build_object(
    'totalCount', (select count(*) from film),
    'nodes', (
        select coalesce(json_agg(json_build_object(
            'id', encode(convert_to('Film:' || x.id, 'UTF8'), 'base64'),
            'title', x.title,
            'year', x.year,
            'imdbRating', x.imdb_rating::float8,
            'directors', coalesce((
                select json_agg(json_build_object('name', p.name)
                                order by c.billing_order nulls last, c.id)
                from credit c join person p on p.id = c.person_id
                where c.film_id = x.id and c.role = 'DIRECTOR'), '[]'),
            'genres', coalesce((
                select json_agg(json_build_object('name', g.name) order by g.name)
                from film_genre fg join genre g on g.id = fg.genre_id
                where fg.film_id = x.id), '[]'))
            order by coalesce(x.imdb_rating, -1) desc, x.id desc), '[]')
        from (select f.id, f.title, f.year, f.imdb_rating
              from film f
              order by coalesce(f.imdb_rating, -1) desc, f.id desc
              limit 100) x)))

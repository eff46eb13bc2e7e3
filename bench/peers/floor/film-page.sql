-- The film page (bench/pages/film-page.graphql) as one statement returning filmgraph's `data`
-- for film slug $1 in region US: the same fields, orders and ids.
select json_build_object('film', (
    select json_build_object(
        'id', encode(convert_to('Film:' || f.id, 'UTF8'), 'base64'),
        'title', f.title,
        'year', f.year,
        'certification', f.certification,
        'runtimeMinutes', f.runtime_minutes,
        'synopsis', f.synopsis,
        'imdbRating', f.imdb_rating::float8,
        'posterUrl', f.poster_url,
        'genres', coalesce((
            select json_agg(json_build_object(
                'id', encode(convert_to('Genre:' || g.id, 'UTF8'), 'base64'), 'name', g.name) order by g.name)
            from film_genre fg join genre g on g.id = fg.genre_id
            where fg.film_id = f.id), '[]'),
        'directors', coalesce((
            select json_agg(json_build_object(
                'id', encode(convert_to('Person:' || p.id, 'UTF8'), 'base64'),
                'name', p.name,
                'filmography', json_build_object(
                    'totalCount', (select count(*) from credit d
                                   where d.person_id = p.id and d.role = 'DIRECTOR'),
                    'nodes', coalesce((
                        select json_agg(json_build_object(
                            'id', encode(convert_to('Film:' || x.id, 'UTF8'), 'base64'),
                            'title', x.title, 'year', x.year)
                                        order by x.year desc nulls last,
                                                 x.release_date desc nulls last, x.title, x.id)
                        from (select o.id, o.title, o.year, o.release_date
                              from credit d join film o on o.id = d.film_id
                              where d.person_id = p.id and d.role = 'DIRECTOR'
                              order by o.year desc nulls last, o.release_date desc nulls last,
                                       o.title, o.id
                              limit 10) x), '[]')))
                order by c.billing_order nulls last, c.id)
            from credit c join person p on p.id = c.person_id
            where c.film_id = f.id and c.role = 'DIRECTOR'), '[]'),
        'writers', coalesce((
            select json_agg(json_build_object(
                'id', encode(convert_to('Person:' || p.id, 'UTF8'), 'base64'), 'name', p.name)
                            order by c.billing_order nulls last, c.id)
            from credit c join person p on p.id = c.person_id
            where c.film_id = f.id and c.role = 'WRITER'), '[]'),
        'offers', coalesce((
            select json_agg(json_build_object(
                'kind', o.kind, 'price', o.price::text, 'currency', o.currency,
                'quality', o.quality, 'url', o.url,
                'provider', json_build_object(
                    'id', encode(convert_to('Provider:' || pr.id, 'UTF8'), 'base64'),
                    'name', pr.name, 'logoUrl', pr.logo_url))
                order by array_position(array['FREE', 'ADS', 'SUBSCRIPTION', 'RENT', 'BUY'],
                                        o.kind),
                         o.price nulls first, o.provider_id, o.quality, o.id)
            from offer o join provider pr on pr.id = o.provider_id
            where o.film_id = f.id and o.region = 'US'), '[]'))
    from film f
    where f.slug = $1))

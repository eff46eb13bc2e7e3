-- The filmography page (bench/pages/filmography.graphql) as one statement returning
-- filmgraph's `data` for person slug $1: their 50 newest directed films, genres, US offers.
select json_build_object('person', (
    select json_build_object(
        'id', encode(convert_to('Person:' || p.id, 'UTF8'), 'base64'),
        'name', p.name,
        'filmography', json_build_object(
            'totalCount', (select count(*) from credit d
                           where d.person_id = p.id and d.role = 'DIRECTOR'),
            'nodes', coalesce((
                select json_agg(json_build_object(
                    'id', encode(convert_to('Film:' || x.id, 'UTF8'), 'base64'),
                    'title', x.title,
                    'year', x.year,
                    'genres', coalesce((
                        select json_agg(json_build_object('name', g.name) order by g.name)
                        from film_genre fg join genre g on g.id = fg.genre_id
                        where fg.film_id = x.id), '[]'),
                    'offers', coalesce((
                        select json_agg(json_build_object(
                            'kind', o.kind, 'price', o.price::text, 'currency', o.currency,
                            'provider', json_build_object('name', pr.name))
                            order by array_position(
                                         array['FREE', 'ADS', 'SUBSCRIPTION', 'RENT', 'BUY'],
                                         o.kind),
                                     o.price nulls first, o.provider_id, o.quality, o.id)
                        from offer o join provider pr on pr.id = o.provider_id
                        where o.film_id = x.id and o.region = 'US'), '[]'))
                    order by x.year desc nulls last, x.release_date desc nulls last,
                             x.title, x.id)
                from (select f.id, f.title, f.year, f.release_date
                      from credit d join film f on f.id = d.film_id
                      where d.person_id = p.id and d.role = 'DIRECTOR'
                      order by f.year desc nulls last, f.release_date desc nulls last,
                               f.title, f.id
                      limit 50) x), '[]')))
    from person p
    where p.slug = $1))

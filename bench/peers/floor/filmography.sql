-- The filmography page (bench/pages/filmography.graphql) as one statement returning
-- filmgraph's `data` for person slug $1: their 50 newest directed films, genres, US offers.
select json_build_object('person', (
    select json_build_object(
        'id', encode(convert_to('Person:' || p.id, 'UTF8'), 'base64'),
        'name', p.name,
        'filmography', json_build_object(
            'totalCount', coalesce((select n.films from credit_tally n
                                    where n.person_id = p.id and n.role = 'DIRECTOR'), 0),
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
                    order by x.film_year desc nulls last, x.film_release_date desc nulls last,
                             x.film_title, x.id)
                -- credit's copies of the film's sort key (migration 0009), walked in
                -- credit_filmography_idx's order
                from (select f.id, f.title, f.year, d.film_year, d.film_release_date,
                             d.film_title
                      from credit d join film f on f.id = d.film_id
                      where d.person_id = p.id and d.role = 'DIRECTOR'
                      order by d.film_year desc nulls last, d.film_release_date desc nulls last,
                               d.film_title, d.film_id
                      limit 50) x), '[]')))
    from person p
    where p.slug = $1))

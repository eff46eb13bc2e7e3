-- Linked data out (issue 13): a film's and a person's schema.org JSON-LD, built in one place
-- and read by every path that serves it: `Film.jsonLd`/`Person.jsonLd` (resolvers and the
-- compiled path), GET /films/{slug} and /people/{slug}, and `filmgraph export jsonld`.
--
-- `base` is the public URL of the API (FILMGRAPH_PUBLIC_URL, no trailing slash): a film's
-- `@id` is base || '/films/' || slug, a person's base || '/people/' || slug, the pages that
-- answer with these documents. json, not jsonb: the keys stay in the order written here.
-- Nulls are stripped, so a document holds only what the graph knows.

-- A film's person, as a node of its own (the person's document says the rest).
create function jsonld_person_node(p person, base text) returns json
    language sql stable parallel safe
    return json_build_object(
        '@type', 'Person', '@id', base || '/people/' || p.slug, 'name', p.name);

-- The pages of the external ids held, as `sameAs` (null when none).
create function jsonld_same_as(imdb text, tmdb text, wikidata text) returns json
    language sql immutable parallel safe
    return case
        when coalesce(imdb, tmdb, wikidata) is not null then
            array_to_json(array_remove(array[imdb, tmdb, wikidata], null))
    end;

-- An instant of an offer's availability window, in UTC whatever the session's time zone.
create function jsonld_instant(t timestamptz) returns text
    language sql stable parallel safe
    return to_char(t at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"');

-- An offer as a WatchAction: its access (category, region, window) and its Offer.
create function jsonld_watch_action(o offer, pr provider) returns json
    language sql stable parallel safe
    return json_build_object(
        '@type', 'WatchAction',
        'target', json_build_object('@type', 'EntryPoint', 'urlTemplate', o.url),
        'actionAccessibilityRequirement', json_build_object(
            '@type', 'ActionAccessSpecification',
            'category', lower(o.kind),
            'eligibleRegion', json_build_object('@type', 'Country', 'name', o.region),
            'availabilityStarts', jsonld_instant(o.available_from),
            'availabilityEnds', jsonld_instant(o.available_until),
            'expectsAcceptanceOf', json_build_object(
                '@type', 'Offer',
                'price', o.price::text,
                'priceCurrency', o.currency,
                'url', o.url,
                'offeredBy', json_build_object(
                    '@type', 'Organization', 'name', pr.name, 'url', pr.homepage))));

-- schema.org Movie from the film's row and its related parts, each a json array or null
-- (film_jsonld finds them for one film; `filmgraph export jsonld` for many at once).
create function film_jsonld_of(
    f film, base text, genres json, language text, directors json, writers json, actors json,
    actions json
) returns json
    language sql stable parallel safe
    return json_strip_nulls(json_build_object(
        '@context', 'https://schema.org',
        '@type', 'Movie',
        '@id', base || '/films/' || f.slug,
        'url', base || '/films/' || f.slug,
        'name', f.title,
        'alternateName', nullif(f.original_title, f.title),
        'datePublished', coalesce(f.release_date::text, f.year::text),
        'duration', 'PT' || f.runtime_minutes || 'M',
        'contentRating', f.certification,
        'genre', genres,
        'inLanguage', language,
        'director', directors,
        'author', writers,
        'actor', actors,
        'aggregateRating', case when f.imdb_rating is not null then json_build_object(
            '@type', 'AggregateRating', 'ratingValue', f.imdb_rating,
            'ratingCount', f.imdb_votes, 'bestRating', 10, 'worstRating', 1) end,
        'image', f.poster_url,
        'description', f.synopsis,
        'sameAs', jsonld_same_as(
            'https://www.imdb.com/title/' || f.imdb_id || '/',
            'https://www.themoviedb.org/movie/' || f.tmdb_id,
            'https://www.wikidata.org/wiki/' || f.wikidata_id),
        'potentialAction', actions));

-- schema.org Movie for one film. `region`: only the offers of that region (all when null).
create function film_jsonld(f film, base text, region text default null) returns json
    language sql stable parallel safe
    as $$
select film_jsonld_of(
    f, base,
    (select json_agg(g.name order by g.name)
     from film_genre fg join genre g on g.id = fg.genre_id
     where fg.film_id = f.id),
    (select a.language from film_alternative_title a
     where a.film_id = f.id and a.is_original and a.language is not null
     order by a.ordering limit 1),
    people.directors, people.writers, people.actors,
    (select json_agg(jsonld_watch_action(o, pr)
            -- The order of Film.offers (graph/mapping.py).
            order by o.region, array_position(array['FREE', 'ADS', 'SUBSCRIPTION', 'RENT',
                     'BUY'], o.kind), o.price nulls first, o.provider_id, o.quality, o.id)
     from offer o join provider pr on pr.id = o.provider_id
     where o.film_id = f.id and (region is null or o.region = region)))
from (select
        json_agg(jsonld_person_node(p, base) order by c.billing_order nulls last, c.id)
            filter (where c.role = 'DIRECTOR') as directors,
        json_agg(jsonld_person_node(p, base) order by c.billing_order nulls last, c.id)
            filter (where c.role = 'WRITER') as writers,
        json_agg(jsonld_person_node(p, base) order by c.billing_order nulls last, c.id)
            filter (where c.role = 'ACTOR') as actors
      from credit c join person p on p.id = c.person_id
      where c.film_id = f.id and c.role in ('DIRECTOR', 'WRITER', 'ACTOR')) people
$$;

-- schema.org Person.
create function person_jsonld(p person, base text) returns json
    language sql stable parallel safe
    return json_strip_nulls(json_build_object(
        '@context', 'https://schema.org',
        '@type', 'Person',
        '@id', base || '/people/' || p.slug,
        'url', base || '/people/' || p.slug,
        'name', p.name,
        'birthDate', p.birth_year::text,
        'deathDate', p.death_year::text,
        'description', p.biography,
        'image', p.photo_url,
        'sameAs', jsonld_same_as(
            'https://www.imdb.com/name/' || p.imdb_id || '/',
            'https://www.themoviedb.org/person/' || p.tmdb_id,
            'https://www.wikidata.org/wiki/' || p.wikidata_id)));

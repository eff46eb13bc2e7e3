-- Importers (filmgraph import imdb | movielens | tmdb-providers | tmdb-watch): what the public
-- datasets carry that the graph could not hold yet.

-- TMDB's watch-provider answers say that a film can be rented or bought, not for how much. An
-- imported RENT or BUY offer may therefore have no price; when it has one, it has a currency.
alter table offer drop constraint offer_check;
alter table offer add constraint offer_price_kind_check check (
    (kind in ('RENT', 'BUY') and (price is null) = (currency is null))
    or (kind not in ('RENT', 'BUY') and price is null and currency is null)
);

-- Alternative titles of a film (IMDb title.akas): one row per IMDb `ordering` of the title.
create table film_alternative_title (
    film_id      bigint not null references film (id) on delete cascade,
    ordering     integer not null check (ordering >= 1),
    title        text not null check (length(btrim(title)) > 0),
    -- IMDb uses ISO 3166-1 codes plus a few of its own (XWW for "world", SUHH, ...).
    region       text check (region ~ '^[A-Z]{2,4}$'),
    language     text check (language ~ '^[a-z]{2,3}$'),
    types        text[] not null default '{}',
    attributes   text[] not null default '{}',
    is_original  boolean not null default false,
    primary key (film_id, ordering)
);

-- The slug rule of graph/slugs.py in SQL, so that importers make slugs set-based: accents
-- folded (fold() from 0002), lower-case, every other run of characters one hyphen.
create function slugify(text) returns text
    language sql immutable parallel safe strict
    return btrim(regexp_replace(fold($1), '[^a-z0-9]+', '-', 'g'), '-');

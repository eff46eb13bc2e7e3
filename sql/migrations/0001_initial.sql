-- The film graph: films, people, genres, credits, providers and offers.
-- Text codes with CHECK constraints instead of PostgreSQL enums: values can be added by a later
-- migration without ALTER TYPE, and clients see plain strings.

create table film (
    id                     bigint generated always as identity primary key,
    slug                   text not null unique check (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
    title                  text not null check (length(btrim(title)) > 0),
    original_title         text check (length(btrim(original_title)) > 0),
    year                   integer check (year between 1870 and 2100),
    release_date           date,
    runtime_minutes        integer check (runtime_minutes between 1 and 6000),
    certification          text check (certification ~ '^[A-Za-z0-9+-]{1,10}$'),
    certification_country  text check (certification_country ~ '^[A-Z]{2}$'),
    synopsis               text,
    imdb_rating            numeric(3, 1) check (imdb_rating between 0 and 10),
    imdb_votes             integer check (imdb_votes >= 0),
    poster_url             text check (poster_url ~ '^https?://'),
    imdb_id                text unique check (imdb_id ~ '^tt[0-9]{7,10}$'),
    tmdb_id                integer unique check (tmdb_id > 0),
    wikidata_id            text unique check (wikidata_id ~ '^Q[1-9][0-9]*$'),
    check (certification_country is null or certification is not null),
    check (imdb_votes is null or imdb_rating is not null)
);

create table person (
    id            bigint generated always as identity primary key,
    slug          text not null unique check (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
    name          text not null check (length(btrim(name)) > 0),
    birth_year    integer check (birth_year between 1800 and 2100),
    death_year    integer check (death_year between 1800 and 2100),
    biography     text,
    photo_url     text check (photo_url ~ '^https?://'),
    imdb_id       text unique check (imdb_id ~ '^nm[0-9]{7,10}$'),
    tmdb_id       integer unique check (tmdb_id > 0),
    wikidata_id   text unique check (wikidata_id ~ '^Q[1-9][0-9]*$'),
    check (death_year is null or birth_year is null or death_year >= birth_year)
);

create table genre (
    id    bigint generated always as identity primary key,
    slug  text not null unique check (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
    name  text not null unique check (length(btrim(name)) > 0)
);

create table film_genre (
    film_id   bigint not null references film (id) on delete cascade,
    genre_id  bigint not null references genre (id) on delete cascade,
    primary key (film_id, genre_id)
);
-- Genre.films walks from genre to film.
create index film_genre_genre_id_idx on film_genre (genre_id, film_id);

create table credit (
    id             bigint generated always as identity primary key,
    film_id        bigint not null references film (id) on delete cascade,
    person_id      bigint not null references person (id) on delete cascade,
    role           text not null check (role in (
                       'DIRECTOR', 'WRITER', 'ACTOR', 'PRODUCER', 'COMPOSER',
                       'CINEMATOGRAPHER', 'EDITOR', 'OTHER')),
    character_name text check (character_name is null or role = 'ACTOR'),
    billing_order  integer check (billing_order >= 1),
    -- One person may hold several roles on one film, but each role once (an actor playing two
    -- characters gets them in one character_name). Film first, then role: this index also
    -- serves Film.credits / directors / writers / cast.
    unique (film_id, role, person_id)
);
-- Person.credits / filmography: by person, then role.
create index credit_person_role_idx on credit (person_id, role, film_id);

create table provider (
    id           bigint generated always as identity primary key,
    slug         text not null unique check (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
    name         text not null check (length(btrim(name)) > 0),
    logo_url     text check (logo_url ~ '^https?://'),
    homepage     text check (homepage ~ '^https?://'),
    tmdb_id      integer unique check (tmdb_id > 0)
);

create table offer (
    id              bigint generated always as identity primary key,
    film_id         bigint not null references film (id) on delete cascade,
    provider_id     bigint not null references provider (id) on delete cascade,
    region          text not null check (region ~ '^[A-Z]{2}$'),
    kind            text not null check (kind in ('SUBSCRIPTION', 'FREE', 'ADS', 'RENT', 'BUY')),
    price           numeric(10, 2) check (price >= 0),
    currency        text check (currency ~ '^[A-Z]{3}$'),
    quality         text check (quality in ('SD', 'HD', 'UHD')),
    url             text check (url ~ '^https?://'),
    available_from  timestamptz,
    available_until timestamptz,
    -- A price is what you pay to rent or buy; subscriptions and free offers carry none.
    check (
        (kind in ('RENT', 'BUY') and price is not null and currency is not null)
        or (kind not in ('RENT', 'BUY') and price is null and currency is null)
    ),
    check (available_until is null or available_from is null or available_until > available_from),
    -- One offer per provider, region, kind and quality of a film. In this column order the
    -- index also serves Film.offers(region:, kinds:) and Film.providers(region:).
    unique nulls not distinct (film_id, region, kind, provider_id, quality)
);
-- Provider.offers(region:) and Provider.films(region:).
create index offer_provider_region_idx on offer (provider_id, region, film_id);

-- Root connections page in title / name order.
create index film_title_idx on film (title, id);
create index person_name_idx on person (name, id);
create index provider_name_idx on provider (name, id);

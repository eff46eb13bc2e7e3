-- Which sources list each genre link, so that re-importing a file brings the genre links of
-- every film it mentions in line with it (a file cut inside "Drama" once left a genre "Dr"
-- behind for good), without one source taking back what another gave: IMDb and MovieLens
-- both name genres. 'imdb' and 'movielens' are the importers' names; a link with no source
-- (the demo data, links made before this migration, hand-made ones) is never removed by an
-- import.
alter table film_genre add column sources text[] not null default '{}';

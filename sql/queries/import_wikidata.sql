-- `filmgraph import wikidata FILE`: Wikidata items of films, from the Query Service's SPARQL
-- JSON results (graph/importers/wikidata.py checks each binding and stages it).

-- name: wikidata_stage_create
-- One good binding (its index in results.bindings): the film's IMDb id and Wikidata item,
-- and one of its directors if any.
create temp table wikidata_stage (
    binding integer not null, imdb_id text not null, film_q text not null, director_q text,
    director_label text
) on commit drop;

-- name: wikidata_film_conflicts
-- Items whose id another film of the graph holds (a film of another IMDb id): left out, so
-- that no id moves between films silently. Returns imdb_id, film_q and the holder's slug. An
-- IMDb id the graph does not have is left out as such (wikidata_films_merge counts it).
with wanted as (
    select distinct imdb_id, film_q from wikidata_stage s
    where exists (select 1 from film f where f.imdb_id = s.imdb_id)
), conflicts as (
    select w.imdb_id, w.film_q, h.slug
    from wanted w join film h on h.wikidata_id = w.film_q
    where h.imdb_id is distinct from w.imdb_id
), gone as (
    delete from wikidata_stage s using conflicts c where s.imdb_id = c.imdb_id
)
select imdb_id, film_q, slug from conflicts order by imdb_id;

-- name: wikidata_films_merge
-- Set each film's Wikidata id by its IMDb id. Returns updated, matched (films of the graph
-- the file names) and wanted (the file's films, matched or not).
with wanted as (
    select distinct imdb_id, film_q from wikidata_stage
), matched as (
    select f.id, w.film_q
    from wanted w join film f on f.imdb_id = w.imdb_id
), changed as (
    update film f set wikidata_id = m.film_q
    from matched m
    where f.id = m.id and f.wikidata_id is distinct from m.film_q
    returning 1
)
select (select count(*) from changed) as updated, (select count(*) from matched) as matched,
       (select count(*) from wanted) as wanted;

-- name: wikidata_directors_merge
-- Set the Wikidata id of the matched films' directors where the graph can tell which person
-- an item is: the film's only director in the graph and its only one in the file, unless the
-- item's label names someone else (a label that is the item's id says nothing: the service
-- gives that when the item has no label in its language), or the one director whose name is
-- the item's label (case and accents aside) on both sides. A person
-- matched to several items, an item matched to several people, a person holding another
-- item already or an item another person holds: left alone. Returns updated, matched and
-- ambiguous (people matched but left alone).
with listed as (
    select distinct f.id as film_id, s.director_q as q, fold(s.director_label) as label
    from wikidata_stage s join film f on f.imdb_id = s.imdb_id
    where s.director_q is not null
), graphed as (
    select c.film_id, c.person_id, fold(p.name) as name
    from credit c join person p on p.id = c.person_id
    where c.role = 'DIRECTOR' and c.film_id in (select film_id from listed)
), sole as (
    select g.person_id, l.q
    from listed l join graphed g on g.film_id = l.film_id
    where (select count(distinct x.q) from listed x where x.film_id = l.film_id) = 1
      and (select count(*) from graphed y where y.film_id = g.film_id) = 1
      and (l.label is null or l.label = fold(l.q) or l.label = g.name)
), named as (
    select g.person_id, l.q
    from listed l join graphed g on g.film_id = l.film_id and g.name = l.label
    where (select count(distinct x.q) from listed x
           where x.film_id = l.film_id and x.label = l.label) = 1
      and (select count(*) from graphed y where y.film_id = g.film_id and y.name = g.name) = 1
), pairs as (
    select person_id, q from sole union select person_id, q from named
), one_item as (
    select person_id, min(q) as q from pairs group by person_id having count(distinct q) = 1
), one_person as (
    select o.* from one_item o where (select count(*) from one_item x where x.q = o.q) = 1
), free as (
    select o.person_id, o.q
    from one_person o join person p on p.id = o.person_id
    where (p.wikidata_id is null or p.wikidata_id = o.q)
      and not exists (select 1 from person h where h.wikidata_id = o.q and h.id <> o.person_id)
), changed as (
    update person p set wikidata_id = f.q
    from free f
    where p.id = f.person_id and p.wikidata_id is distinct from f.q
    returning 1
)
select (select count(*) from changed) as updated, (select count(*) from free) as matched,
       (select count(distinct person_id) from pairs) - (select count(*) from free) as ambiguous;

-- name: wikidata_file_conflicts
-- Films of the graph the file gives several items, and items it gives several films of the
-- graph (IMDb ids): left out, as the graph holds one of each per film. An item's IMDb id that
-- names no film of the graph (a TV series' beside the film's, which Wikidata gives some film
-- items) makes nothing doubtful: such ids are left out as not in the graph. Returns the
-- first $1 such films (imdb_id, their items, and the total of such films), in order.
with graphed as (
    select s.imdb_id, s.film_q from wikidata_stage s
    where exists (select 1 from film f where f.imdb_id = s.imdb_id)
), several_items as (
    select imdb_id from graphed group by imdb_id having count(distinct film_q) > 1
), several_films as (
    select film_q from graphed group by film_q having count(distinct imdb_id) > 1
), doubtful as (
    select imdb_id from several_items
    union
    select s.imdb_id from graphed s join several_films f on f.film_q = s.film_q
), gone as (
    delete from wikidata_stage s using doubtful d where s.imdb_id = d.imdb_id
), listed as (
    select d.imdb_id,
           array_agg(distinct s.film_q collate "C" order by s.film_q collate "C") as items
    from doubtful d join wikidata_stage s on s.imdb_id = d.imdb_id
    group by d.imdb_id
)
select imdb_id, items, count(*) over () as total
from listed order by imdb_id collate "C" limit $1;

-- Film.availability and Film.bestOffer (graph/watch.py).

-- name: offers_by_film_id_and_regions
-- The offers of films $1 in regions $2, in Film.offers' order (graph/mapping.py).
select o.film_id as parent, o.*
from offer o
where o.film_id = any($1::bigint[]) and o.region = any($2::text[])
order by o.film_id, o.region,
         array_position(array['FREE', 'ADS', 'SUBSCRIPTION', 'RENT', 'BUY'], o.kind),
         o.price nulls first, o.provider_id, o.quality, o.id;

-- name: best_offers_by_film_id
-- For each film of $1: its cheapest way to watch in region $2 now, for someone who holds
-- subscriptions to providers $3 (docs/queries.md#best-offer gives the rule). A subscription
-- they do not hold is not a way: its price is not known here.
select k.parent, o.*
from unnest($1::bigint[]) as k(parent)
cross join lateral (
    select o.*,
           case o.kind when 'SUBSCRIPTION' then 'SUBSCRIBED' else o.kind end as reason,
           case when o.kind in ('RENT', 'BUY') then o.price else 0 end as cost
    from offer o
    where o.film_id = k.parent and o.region = $2::text
      and (o.kind <> 'SUBSCRIPTION' or o.provider_id = any($3::bigint[]))
      and (o.available_from is null or o.available_from <= now())
      and (o.available_until is null or o.available_until > now())
    order by array_position(array['SUBSCRIPTION', 'FREE', 'ADS'], o.kind) nulls last,
             o.price nulls last,
             array_position(array['RENT', 'BUY'], o.kind),
             array_position(array['UHD', 'HD', 'SD'], o.quality) nulls last,
             o.id
    limit 1
) o;

"""Film.availability and Film.bestOffer: where to watch a film across regions, and the
cheapest way for someone who already pays for some services (sql/queries/watch.sql).

The best offer, in this order: a SUBSCRIPTION offer from a provider in `subscriptions` (already
paid for), then FREE, then ADS (free, with advertising), then the cheapest RENT or BUY with a
known price (RENT first at the same price), then one whose price is unknown. Ties go to the
better quality (UHD, HD, SD), then the older offer. A subscription the user does not hold is
never the answer: its monthly price is not known here. Offers outside their availability
window (`availableFrom`, `availableUntil`) at the time of asking do not count.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from enum import Enum
from functools import partial
from typing import TYPE_CHECKING, Any

import strawberry

from graph import db
from graph.context import Info
from graph.errors import UserInputError
from graph.ids import pk_of
from graph.mapping import MODEL
from graph.types import Offer, build, region_code

if TYPE_CHECKING:
    from graph.loaders import Loaders

MAX_REGIONS = 20
MAX_SUBSCRIPTIONS = 50
# Their statements (graph/mapping.py), which the compiler embeds too.
AVAILABILITY = MODEL["Film"].embedded["availability"]
BEST_OFFER = MODEL["Film"].embedded["best_offer"]


@strawberry.type(description="A film's offers in one region.")
class RegionAvailability:
    region: str = strawberry.field(description="ISO 3166-1 alpha-2 country code.")
    offers: list[Offer] = strawberry.field(
        description="The offers there, in `Film.offers` order; empty when there are none."
    )


@strawberry.enum(description="Why an offer is the best way to watch.")
class BestOfferReason(Enum):
    SUBSCRIBED = strawberry.enum_value(
        "SUBSCRIBED", description="Included in a subscription the user holds."
    )
    FREE = strawberry.enum_value("FREE", description="Free to watch.")
    ADS = strawberry.enum_value("ADS", description="Free to watch with advertising.")
    RENT = strawberry.enum_value("RENT", description="The cheapest: rent it.")
    BUY = strawberry.enum_value("BUY", description="The cheapest: buy it.")


@strawberry.type(description="The cheapest way to watch a film, and what it costs.")
class BestOffer:
    offer: Offer = strawberry.field(description="The offer.")
    reason: BestOfferReason = strawberry.field(description="Why it is the best.")
    cost: Decimal | None = strawberry.field(
        description='What watching costs, in `offer.currency`: "0" for a held subscription, '
        "free and ad-supported offers; null when a rental's or purchase's price is unknown."
    )


def region_codes(regions: list[str]) -> tuple[str, ...]:
    """The regions asked for, checked and upper-cased, each once, in the order given."""
    if not 1 <= len(regions) <= MAX_REGIONS:
        raise UserInputError(
            f"regions: give 1 to {MAX_REGIONS} regions, got {len(regions)}", argument="regions"
        )
    codes: list[str] = []
    for region in regions:
        try:
            code = region_code(region)
        except UserInputError as error:
            raise UserInputError(error.message, argument="regions") from None
        if code is not None and code not in codes:
            codes.append(code)
    return tuple(codes)


async def _offers_in(
    loaders: Loaders, regions: tuple[str, ...], film_ids: list[int]
) -> list[dict[str, list[Any]]]:
    grouped: dict[int, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
    for row in await loaders.pool.fetch(db.sql(AVAILABILITY.statement), film_ids, list(regions)):
        grouped[row["parent"]][row["region"]].append(build("Offer", row))
    return [grouped[f] for f in film_ids]


async def availability(info: Info, film_id: int, regions: list[str]) -> list[RegionAvailability]:
    codes = region_codes(regions)
    loaders = info.context.loaders
    offers: dict[str, list[Any]] = await loaders.batched(
        (AVAILABILITY.statement, codes), partial(_offers_in, loaders, codes), film_id
    )
    return [RegionAvailability(region=r, offers=offers.get(r, [])) for r in codes]


async def _best(
    loaders: Loaders, region: str, subscriptions: tuple[int, ...], film_ids: list[int]
) -> list[BestOffer | None]:
    found = {
        row["parent"]: BestOffer(
            offer=build("Offer", row), reason=BestOfferReason(row["reason"]), cost=row["cost"]
        )
        for row in await loaders.pool.fetch(
            db.sql(BEST_OFFER.statement), film_ids, region, list(subscriptions)
        )
    }
    return [found.get(f) for f in film_ids]


def subscription_ids(subscriptions: list[strawberry.ID] | None) -> tuple[int, ...]:
    """The providers the user pays for, by primary key (sorted, each once)."""
    held = subscriptions or []
    if len(held) > MAX_SUBSCRIPTIONS:
        raise UserInputError(
            f"subscriptions: at most {MAX_SUBSCRIPTIONS} ids, got {len(held)}",
            argument="subscriptions",
        )
    return tuple(sorted({pk_of(p, "Provider", "subscriptions") for p in held}))


async def best_offer(
    info: Info, film_id: int, region: str, subscriptions: list[strawberry.ID] | None
) -> BestOffer | None:
    code = region_code(region)
    assert code is not None
    providers = subscription_ids(subscriptions)
    loaders = info.context.loaders
    result: BestOffer | None = await loaders.batched(
        (BEST_OFFER.statement, code, providers),
        partial(_best, loaders, code, providers),
        film_id,
    )
    return result

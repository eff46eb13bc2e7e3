"""A "Where to Watch" film page (examples/film-page.graphql) in one request: every fact that
Refusenik's reference page shows."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.conftest import gql

FILM_PAGE = (Path(__file__).parent.parent / "examples" / "film-page.graphql").read_text()


async def test_reference_query_serves_every_fact_on_the_page(client: httpx.AsyncClient) -> None:
    data = await gql(client, FILM_PAGE, {"slug": "refusenik-2007", "region": "US"})
    film = data["film"]

    assert film["title"] == "Refusenik"
    assert film["year"] == 2007
    assert film["certification"] == "NR"
    assert film["runtimeMinutes"] == 120
    assert film["imdbRating"] == 7.7
    assert "Soviet" in film["synopsis"]
    assert [g["name"] for g in film["genres"]] == ["Documentary"]
    assert [d["name"] for d in film["directors"]] == ["Laura Bialis"]
    assert [w["name"] for w in film["writers"]] == ["Laura Bialis"]

    filmography = film["directors"][0]["filmography"]
    titles = [(n["title"], n["year"]) for n in filmography["nodes"]]
    assert ("Refusenik", 2007) in titles
    assert len(titles) >= 2, "'also directed by' needs another film of hers"
    assert filmography["totalCount"] == len(titles)
    assert [y for _, y in titles] == sorted((y for _, y in titles), reverse=True)

    offers = film["offers"]
    assert offers, "where to watch in the US"
    kinds = {o["kind"] for o in offers}
    assert kinds <= {"SUBSCRIPTION", "FREE", "ADS", "RENT", "BUY"}
    for offer in offers:
        assert offer["provider"]["name"]
        assert offer["url"].startswith("https://")
        paid = offer["kind"] in ("RENT", "BUY")
        assert (offer["price"] is not None) == paid
        assert (offer["currency"] is not None) == paid


async def test_reference_query_other_region_and_unknown_film(client: httpx.AsyncClient) -> None:
    us = await gql(client, FILM_PAGE, {"slug": "refusenik-2007", "region": "US"})
    elsewhere = await gql(client, FILM_PAGE, {"slug": "refusenik-2007", "region": "ZZ"})
    assert us["film"]["offers"]
    assert elsewhere["film"]["offers"] == []
    assert elsewhere["film"]["title"] == "Refusenik"

    missing = await gql(client, FILM_PAGE, {"slug": "no-such-film-1900", "region": "US"})
    assert missing["film"] is None

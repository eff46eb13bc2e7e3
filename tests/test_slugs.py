from __future__ import annotations

import pytest

from graph.slugs import film_slug, slugify, unique_slug


@pytest.mark.parametrize(
    ("text", "slug"),
    [
        ("Refusenik 2007", "refusenik-2007"),
        ("Amélie 2001", "amelie-2001"),
        ("Star Wars: Episode IV - A New Hope", "star-wars-episode-iv-a-new-hope"),
        ("  --Se7en!!  ", "se7en"),
        ("Straße", "strasse"),
        ("Ærø Ødegaard", "aero-odegaard"),
        ("千と千尋", ""),
    ],
)
def test_slugify(text: str, slug: str) -> None:
    assert slugify(text) == slug


def test_film_slug_and_clashes() -> None:
    assert film_slug("Pan's Labyrinth", 2006) == "pan-s-labyrinth-2006"
    assert film_slug("千と千尋", None) == "film"
    assert unique_slug("john-smith", []) == "john-smith"
    assert unique_slug("john-smith", ["john-smith", "john-smith-2"]) == "john-smith-3"

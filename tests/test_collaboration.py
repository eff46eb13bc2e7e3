"""Migration 0019's collaborations counted ahead for the busiest people ("hubs"): exactly what a
brute-force count of the credits gives, whoever writes the credits (the demo, `filmgraph
generate`, IMDb imports first and again with --prune, statements by hand), after the
migration on a database of the previous main, and served as the request-time count serves
everyone else."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import asyncpg

from graph import db
from graph.demo.load import load_demo
from graph.generate import generate
from graph.imdb_files import generate_imdb
from graph.migrate import available, migrate
from tests.importing import filmgraph_import

ROLES = [None, "ACTOR", "DIRECTOR", "WRITER", "PRODUCER"]


async def brute_force(conn: asyncpg.Connection) -> Counter[tuple[int, str, int]]:
    """Every hub's collaborations, counted in Python from the credits."""
    hubs = {r["person_id"] for r in await conn.fetch("select person_id from collaborator_hub")}
    on_film: dict[int, list[tuple[int, str]]] = {}
    for r in await conn.fetch("select film_id, person_id, role from credit"):
        on_film.setdefault(r["film_id"], []).append((r["person_id"], r["role"]))
    counted: Counter[tuple[int, str, int]] = Counter()
    for credits in on_film.values():
        people = {p for p, _ in credits}
        for a in people & hubs:
            for b, role in credits:
                if b != a:
                    counted[(a, role, b)] += 1
            for b in people - {a}:
                counted[(a, "ANY", b)] += 1
    return counted


async def assert_exact(conn: asyncpg.Connection, min_credits: int | None = None) -> int:
    """The table holds exactly the brute-force counts; every person with min_credits credits
    is a hub. Returns how many rows."""
    rows = await conn.fetch("select person_id, role, other_id, shared from collaboration")
    table = Counter({(r["person_id"], r["role"], r["other_id"]): r["shared"] for r in rows})
    assert table == await brute_force(conn)
    if min_credits is not None:
        busy = await conn.fetch(
            "select person_id from credit group by 1 having count(*) >= $1", min_credits
        )
        hubs = await conn.fetch("select person_id from collaborator_hub")
        assert {r["person_id"] for r in busy} <= {r["person_id"] for r in hubs}
    return len(rows)


async def assert_pages_agree(conn: asyncpg.Connection) -> None:
    """For every hub (its collaborations counted ahead) and some others (counted at request
    time), in every role: collaborators_page gives the brute-force page, row for row."""
    hubs = [r["person_id"] for r in await conn.fetch("select person_id from collaborator_hub")]
    assert hubs
    names = {r["id"]: r["name"] for r in await conn.fetch("select id, name from person")}
    on_film: dict[int, list[tuple[int, str]]] = {}
    for r in await conn.fetch("select film_id, person_id, role from credit"):
        on_film.setdefault(r["film_id"], []).append((r["person_id"], r["role"]))
    others = [p for p in sorted(names)[::37] if p not in hubs]
    for person in hubs + others:
        for role in ROLES:
            shared: Counter[int] = Counter()
            for credits in on_film.values():
                if any(p == person for p, _ in credits):
                    shared.update({p for p, r in credits if p != person and role in (None, r)})
            ranked = sorted(shared, key=lambda p: (-shared[p], names[p], p))
            for after, first in ((0, 20), (2, 3)):
                rows = await conn.fetch(db.sql("collaborators_page"), after, first, person, role)
                assert {r["page_total"] for r in rows} == {len(ranked)}, (person, role)
                page = ranked[after : after + first]
                assert [(r["rn"], r["id"], r["shared"]) for r in rows if r["rn"]] == [
                    (after + n, p, shared[p]) for n, p in enumerate(page, start=1)
                ], (person, role)


async def assert_shared_films(
    conn: asyncpg.Connection, pairs: list[tuple[int, int]] | None = None
) -> None:
    """Collaborator.films of every pair (or of `pairs`) in either order, driven from either
    side (the one with fewer credits), is the brute-force list: newest first, at most
    `first`."""
    films = {r["id"]: r for r in await conn.fetch("select id, year, title from film")}
    credits = await conn.fetch("select film_id, person_id, role from credit")
    if pairs is not None:
        credits = [c for c in credits if c["person_id"] in {p for pair in pairs for p in pair}]
    pairs = sorted(
        {
            (a["person_id"], b["person_id"])
            for a in credits
            for b in credits
            if a["film_id"] == b["film_id"] and a["person_id"] != b["person_id"]
        }
    )
    for role in (None, "ACTOR", "DIRECTOR"):
        for first in (1, 3):
            rows = await conn.fetch(
                db.sql("shared_films_by_people"),
                [a for a, _ in pairs],
                [b for _, b in pairs],
                first,
                role,
            )
            got: dict[tuple[int, int], list[int]] = {}
            for r in rows:
                got.setdefault((r["person_id"], r["other_id"]), []).append(r["id"])
            for a, b in pairs:
                shared = {c["film_id"] for c in credits if c["person_id"] == a} & {
                    c["film_id"]
                    for c in credits
                    if c["person_id"] == b and role in (None, c["role"])
                }
                newest = sorted(
                    shared,
                    key=lambda f: (
                        films[f]["year"] is None,
                        -(films[f]["year"] or 0),
                        films[f]["title"],
                        f,
                    ),
                )
                assert got.get((a, b), []) == newest[:first], (a, b, role)


# The films every person of $1 is on, newest first: the plain intersection, by counting.
COMMON_FILMS = """
select f.id from film f
where f.id in (select c.film_id from credit c where c.person_id = any($1::bigint[])
               group by c.film_id having count(distinct c.person_id) = cardinality($1::bigint[]))
order by f.year desc nulls last, f.title, f.id"""


async def assert_common_films(conn: asyncpg.Connection, sets: list[list[int]]) -> None:
    """commonFilms' statement gives the plain intersection's total and pages for each set."""
    for people in sets:
        ids = sorted(set(people))
        expected = [r["id"] for r in await conn.fetch(COMMON_FILMS, ids)]
        for after, first in ((0, 20), (1, 2), (len(expected), 5)):
            rows = await conn.fetch(db.sql("common_films_page"), people, after, first)
            assert {r["page_total"] for r in rows} == {len(expected)}, people
            assert [r["rn"] for r in rows if r["rn"] is not None] == list(
                range(after + 1, min(after + first, len(expected)) + 1)
            ), people
            assert [r["id"] for r in rows if r["rn"] is not None] == expected[
                after : after + first
            ], people


async def assert_common_films_of_pairs(conn: asyncpg.Connection) -> None:
    """commonFilms of two people, one a hub (its total counted ahead, its page walked), and of
    a hub with others: the plain intersection's."""
    hubs = [r["person_id"] for r in await conn.fetch("select person_id from collaborator_hub")]
    people = [r["id"] for r in await conn.fetch("select id from person order by id")]
    sets = [[a, b] for a in hubs for b in people[::29] if a != b]
    sets += [[a, *hubs[:2], b] for a in hubs[:3] for b in people[::97]]
    await assert_common_films(conn, sets)


async def test_demo_load_and_writes_by_hand_keep_the_counts_exact(empty_dsn: str) -> None:
    conn = await asyncpg.connect(empty_dsn)
    try:
        await migrate(conn)
        await conn.execute("update collaboration_setting set min_credits = 4")
        await load_demo(conn)  # hubs become so as their credits reach 4
        assert await assert_exact(conn, 4) > 100
        await assert_pages_agree(conn)
        await assert_shared_films(conn)
        await assert_common_films_of_pairs(conn)
        await conn.execute("update collaboration_setting set min_credits = 2")
        await conn.execute("select collaborations_recount()")
        assert await assert_exact(conn, 2) > 100
        writes = [
            # One statement adding credits of several films, some people on several.
            """insert into credit (film_id, person_id, role)
               select f.id, p.id, r.role
               from (select id from film order by id limit 3) f,
                    (select id from person order by id desc limit 3) p,
                    (values ('EDITOR'), ('OTHER')) r(role)""",
            # A credit moved to another person, another role, another film.
            """update credit set person_id = (select min(id) from person)
               where id = (select max(id) from credit)""",
            """update credit set role = 'COMPOSER'
               where id = (select max(id) - 1 from credit)""",
            """update credit set film_id = (select max(id) from film)
               where id = (select max(id) - 2 from credit)""",
            # Nothing that counts changes.
            "update credit set billing_order = 7 where role = 'ACTOR' and billing_order = 1",
            "delete from credit where id in (select id from credit order by id desc limit 4)",
            "delete from film where id = (select min(film_id) from credit)",
            "delete from person where id = (select min(person_id) from collaborator_hub)",
            "delete from person where id = (select max(other_id) from collaboration)",
        ]
        for statement in writes:
            await conn.execute(statement)
            await assert_exact(conn)
        await assert_pages_agree(conn)
        await conn.execute("truncate credit cascade")
        assert await assert_exact(conn) == 0
    finally:
        await conn.close()


async def test_generate_keeps_the_counts_exact(empty_dsn: str) -> None:
    conn = await asyncpg.connect(empty_dsn)
    try:
        await migrate(conn)
        await conn.execute("update collaboration_setting set min_credits = 40")
        await generate(conn, 400, 3)
        assert await assert_exact(conn, 40) > 1000
        await assert_common_films_of_pairs(conn)
    finally:
        await conn.close()


async def test_imdb_first_load_then_reimport_with_prune_keep_the_counts_exact(
    empty_dsn: str, scratch_dir: Path
) -> None:
    conn = await asyncpg.connect(empty_dsn)
    try:
        await migrate(conn)
        await conn.execute("update collaboration_setting set min_credits = 3")
        first = scratch_dir / "first"
        generate_imdb(first, 0.0002, 5)
        result = filmgraph_import(empty_dsn, "imdb", first)
        assert result.returncode == 0, result.stderr
        assert await assert_exact(conn, 3) > 100
        changed = scratch_dir / "changed"
        generate_imdb(changed, 0.0002, 5, changed=0.3)
        # Films, people and credits changed, added and (--prune) removed.
        result = filmgraph_import(empty_dsn, "imdb", changed, "--prune")
        assert result.returncode == 0, result.stderr
        assert "deleted" in result.stdout
        assert await assert_exact(conn, 3) > 100
        await assert_pages_agree(conn)
    finally:
        await conn.close()


async def test_the_migration_counts_the_hubs_of_a_database_of_the_previous_main(
    empty_dsn: str,
) -> None:
    conn = await asyncpg.connect(empty_dsn)
    try:
        before = [m for m in available() if m.version < 19]
        await migrate(conn, before)
        await load_demo(conn)
        # Someone past the bound of 3,000 credits: 3,000 films of their own with the demo's
        # first people.
        await conn.execute(
            """insert into film (slug, title, year)
               select 'made-' || i, 'Made ' || i, 1900 + i % 100
               from generate_series(1, 3000) i;
               insert into credit (film_id, person_id, role)
               select f.id, p.id, case when p.id = 1 then 'DIRECTOR' else 'ACTOR' end
               from film f, person p
               where f.slug like 'made-%' and (p.id = 1 or p.id = 2 + f.id % 5)"""
        )
        # Person 7 on 2,500 films of their own, newer than the one they share with person 1:
        # Collaborator.films walks person 7's newest 2,000 credits, finds none shared, and
        # walks them all.
        await conn.execute(
            """insert into film (slug, title, year)
               select 'solo-' || i, 'Solo ' || i, 2000 + i % 50 from generate_series(1, 2500) i;
               insert into credit (film_id, person_id, role)
               select f.id, 7, 'WRITER' from film f where f.slug like 'solo-%'
                  or f.slug = 'made-3000'"""
        )
        assert 19 in [m.version for m in await migrate(conn)]
        hubs = await conn.fetch("select person_id from collaborator_hub")
        assert [r["person_id"] for r in hubs] == [1]
        assert await assert_exact(conn, 3000) > 5
        await assert_pages_agree(conn)
        await assert_shared_films(conn, [(1, 7), (1, 2)])
    finally:
        await conn.close()

"""What README.md and docs/ list is what the code defines: settings and their defaults, error
codes, the command's subcommands and options, the import exit statuses, and the files and
sections they point at. Each list is taken from the code, so a new setting, code or option
without its row fails here, and so does a row for something the code no longer has."""

from __future__ import annotations

import argparse
import ast
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict
from pathlib import Path
from unittest import mock

import pytest
from graphql import GraphQLEnumType, GraphQLInputObjectType
from starlette.applications import Starlette

from graph import cli, errors
from graph.app import server_config
from graph.cors import ALLOWED_HEADERS, EXPOSED_HEADERS
from graph.importers import command
from graph.schema import create_schema
from graph.settings import Settings
from tests.markdown import PAGES, ROOT, blocks, code_spans, tables_headed

HOME = "/home/docs-reader"
_VARIABLE = re.compile(r"FILMGRAPH_[A-Z0-9_]+|DATABASE_URL")


class RecordingEnviron(Mapping[str, str]):
    """An environment that remembers which of its variables were looked up."""

    def __init__(self, values: dict[str, str]) -> None:
        self._values = values
        self.read: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.read.add(name)
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


def settings_from(env: dict[str, str], *, euid: int = 1000) -> tuple[Settings, set[str]]:
    """Settings.from_env() in exactly this environment, as this user; and the names it read."""
    environ = RecordingEnviron({"HOME": HOME, **env})
    with (
        mock.patch.object(os, "environ", environ),
        mock.patch.object(os, "geteuid", return_value=euid),
    ):
        return Settings.from_env(), environ.read


def python_sources() -> list[Path]:
    return sorted((ROOT / "graph").rglob("*.py"))


def variables_in_code() -> set[str]:
    """Every FILMGRAPH_* or DATABASE_URL variable the package reads: those from_env() looks up,
    and any such name written as a string anywhere in graph/."""
    _, read = settings_from({})
    names = {name for name in read if _VARIABLE.fullmatch(name)}
    for path in python_sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                names |= {node.value} if _VARIABLE.fullmatch(node.value) else set()
    return names


def settings_rows() -> dict[str, str]:
    rows: dict[str, str] = {}
    for page, row in tables_headed("variable", "default", "meaning"):
        (name,) = code_spans(row[0])
        assert name not in rows, f"{page.name}: {name} is listed twice"
        rows[name] = row[1]
    return rows


def uvicorn_default(name: str) -> str:
    """What uvicorn, as `filmgraph serve` configures it, takes when `name` is unset."""
    environ = RecordingEnviron({})
    with mock.patch.object(os, "environ", environ):
        config = server_config(Starlette(), Settings())
    assert name in environ.read, f"uvicorn no longer reads {name}"
    assert name == "FORWARDED_ALLOW_IPS"
    return str(config.forwarded_allow_ips)


def conftest_reads_test_database_url() -> str:
    assert '"TEST_DATABASE_URL"' in (ROOT / "tests" / "conftest.py").read_text()
    return "unset"


def read_by(path: str, literal: str, default: str) -> Callable[[], str]:
    """A check that a file of the test tooling still reads a variable (by its literal)."""

    def check() -> str:
        assert literal in (ROOT / path).read_text(), f"{path} no longer reads {literal}"
        return default

    return check


# Variables read by others than graph/, and how to find out that they still are (and with
# what default).
EXTERNAL: dict[str, Callable[[], str]] = {
    "FORWARDED_ALLOW_IPS": lambda: uvicorn_default("FORWARDED_ALLOW_IPS"),
    "TEST_DATABASE_URL": conftest_reads_test_database_url,
    "FILMGRAPH_TEST_PG": read_by("tests/conftest.py", '"FILMGRAPH_TEST_PG"', "unset"),
    "FILMGRAPH_TEST_PG_BIN": read_by("tests/conftest.py", '"FILMGRAPH_TEST_PG_BIN"', "unset"),
    "FILMGRAPH_TEST_PG15_BIN": read_by(
        "scripts/test",
        "${FILMGRAPH_TEST_PG15_BIN:-/usr/lib/postgresql/15/bin}",
        "/usr/lib/postgresql/15/bin",
    ),
}


def default_problems(name: str, cell: str) -> list[str]:
    """How the default a settings row gives differs from the code's (empty when it does not).

    The first `value` is the default; "(`X` in production)" and "(`X` for root)" give the
    default there. A cell without a value says the setting has none when unset."""
    spans = code_spans(cell)
    if not spans:
        unset, _ = settings_from({})
        given, _ = settings_from({name: "1"})
        changed = {k for k, v in asdict(given).items() if asdict(unset)[k] != v}
        if not changed:
            return [f"{name}: setting it changes nothing"]
        return [
            f"{name}: {k} is {asdict(unset)[k]!r} when unset" for k in changed if asdict(unset)[k]
        ]
    cases: list[tuple[str, dict[str, str], int, str]] = [("", {}, 1000, spans[0])]
    if production := re.search(r"\(`([^`]+)` in production\)", cell):
        cases.append((" in production", {"FILMGRAPH_ENV": "production"}, 1000, production[1]))
    if root := re.search(r"\(`([^`]+)` for root\)", cell):
        cases.append((" for root", {}, 0, root[1]))
    problems = []
    for where, env, euid, value in cases:
        expected, _ = settings_from(env, euid=euid)
        written, _ = settings_from({**env, name: value.replace("~", HOME, 1)}, euid=euid)
        if written != expected:
            problems.append(f"{name}: `{value}` is not the default{where}")
    return problems


def test_every_variable_the_code_reads_is_documented_and_nothing_else() -> None:
    documented = set(settings_rows())
    in_code = variables_in_code()
    assert sorted(in_code - documented) == [], "read by the code, missing from docs/settings.md"
    assert sorted(documented - in_code - set(EXTERNAL)) == [], "documented, but nothing reads it"
    assert {"DATABASE_URL", "FILMGRAPH_PORT", "FILMGRAPH_ENV"} <= in_code


def test_every_documented_default_is_the_codes() -> None:
    rows = settings_rows()
    # A variable missing from the table is reported by the test above.
    checked = sorted(variables_in_code() & set(rows))
    problems = [p for name in checked for p in default_problems(name, rows[name])]
    for name, actual in EXTERNAL.items():
        if name in rows:
            spans = code_spans(rows[name])
            shown = spans[0] if spans else rows[name]
            if shown != actual():
                problems.append(f"{name}: documented {shown!r}, the default is {actual()!r}")
    assert problems == []


@pytest.mark.parametrize(
    ("name", "cell", "problem"),
    [
        ("FILMGRAPH_PORT", "`8000`", None),
        ("FILMGRAPH_PORT", "`8001`", "`8001` is not the default"),
        ("FILMGRAPH_GRAPHIQL", "`1` (`0` in production)", None),
        ("FILMGRAPH_GRAPHIQL", "`1` (`1` in production)", "in production"),
        ("FILMGRAPH_DATA_DIR", "`~/.local/share/filmgraph` (`/var/lib/filmgraph` for root)", None),
        (
            "FILMGRAPH_DATA_DIR",
            "`~/.local/share/filmgraph` (`/root/filmgraph` for root)",
            "for root",
        ),
        ("FILMGRAPH_API_KEYS", "none", None),
        ("FILMGRAPH_MAX_COST", "none", "max_cost is"),
    ],
)
def test_a_wrong_default_is_caught(name: str, cell: str, problem: str | None) -> None:
    found = default_problems(name, cell)
    if problem is None:
        assert found == []
    else:
        assert len(found) == 1 and problem in found[0], found


def test_every_variable_the_docs_mention_exists() -> None:
    known = variables_in_code() | set(EXTERNAL)
    unknown = {
        f"{page.relative_to(ROOT)}: {name}"
        for page in PAGES
        for name in re.findall(
            r"\b(?:FILMGRAPH_[A-Z0-9_]*[A-Z0-9]|DATABASE_URL)\b", page.read_text()
        )
        if name not in known
    }
    assert sorted(unknown) == []


def codes_in_code() -> set[str]:
    """The codes graph/errors.py names, and any "code": "X" literal elsewhere in graph/."""
    codes = {v for k, v in vars(errors).items() if isinstance(v, str) and k == v and k.isupper()}
    for path in python_sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values, strict=True):
                    if (
                        isinstance(key, ast.Constant)
                        and key.value == "code"
                        and isinstance(value, ast.Constant)
                    ):
                        codes.add(str(value.value))
    return codes


def test_every_error_code_is_documented_and_nothing_else() -> None:
    rows = [code_spans(row[0]) for _, row in tables_headed("code", "when")]
    documented = [spans[0] for spans in rows]
    assert len(documented) == len(set(documented)), "a code is listed twice"
    assert sorted(codes_in_code() - set(documented)) == [], "missing from docs/http.md"
    assert sorted(set(documented) - codes_in_code()) == [], "documented, but no code has it"
    assert {"BAD_USER_INPUT", "INTERNAL", "URI_TOO_LONG"} <= set(documented)


def test_the_limits_table_names_real_settings_and_codes() -> None:
    rows = tables_headed("limit", "default", "setting", "refused with")
    assert len(rows) > 10
    for _, row in rows:
        for name in code_spans(row[2]):
            assert name in variables_in_code(), row
        for code in code_spans(row[3]):
            if re.fullmatch(r"[A-Z_]+", code):
                assert code in codes_in_code(), row


def parsers(
    parser: argparse.ArgumentParser, path: str = "filmgraph"
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every parser of the command tree with its command line: "filmgraph import imdb"."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from parsers(sub, f"{path} {name}")


def arguments(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """A parser's arguments by the name the docs use: the long option, or the metavar."""
    found: dict[str, argparse.Action] = {}
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
            continue
        if action.option_strings:
            found[max(action.option_strings, key=len)] = action
        else:
            found[str(action.metavar or action.dest)] = action
    return found


def is_leaf(parser: argparse.ArgumentParser) -> bool:
    return not any(isinstance(a, argparse._SubParsersAction) for a in parser._actions)


def command_rows() -> dict[tuple[str, str | None], str]:
    """(command, argument or None) -> the default cell, from the docs' command tables."""
    rows: dict[tuple[str, str | None], str] = {}
    for page, row in tables_headed("command", "argument", "default", "meaning"):
        (line,) = code_spans(row[0])
        spans = code_spans(row[1])
        argument = spans[0].split()[0].removesuffix("...") if spans else None
        assert (line, argument) not in rows, f"{page.name}: {line} {argument} listed twice"
        rows[line, argument] = row[2]
    return rows


def test_every_subcommand_argument_and_option_is_documented_and_nothing_else() -> None:
    tree = dict(parsers(cli.parser()))
    rows = command_rows()
    problems = []
    for line, parser in tree.items():
        if is_leaf(parser) and not any(documented == line for documented, _ in rows):
            problems.append(f"{line}: no row")
        for name in arguments(parser):
            words = line.split()
            owners = {" ".join(words[:n]) for n in range(1, len(words) + 1)}
            if not any((owner, name) in rows for owner in owners):
                problems.append(f"{line} {name}: no row")
    for owner, argument in rows:
        if owner not in tree:
            problems.append(f"{owner}: documented, but there is no such command")
        elif argument is not None and argument not in arguments(tree[owner]):
            # An option of a parent (filmgraph import --wait) must be one every leaf takes.
            below = [p for line, p in tree.items() if f"{line} ".startswith(f"{owner} ")]
            if not all(argument in arguments(p) for p in below if is_leaf(p)):
                problems.append(f"{owner} {argument}: documented, but not every {owner} takes it")
    assert problems == []
    assert len(rows) >= 10


def test_every_documented_option_default_is_the_parsers() -> None:
    rows = command_rows()
    problems = []
    for line, parser in parsers(cli.parser()):
        for name, action in arguments(parser).items():
            cell = next(
                (c for (owner, n), c in rows.items() if n == name and line.startswith(owner)), None
            )
            if cell is None:
                continue  # reported by the test above
            if action.option_strings and action.required and "required" not in cell:
                problems.append(f"{line} {name}: required, the docs do not say so")
            if action.default in (None, False, argparse.SUPPRESS):
                continue
            spans = code_spans(cell)
            parse = action.type if callable(action.type) else str
            if not spans or parse(spans[0]) != action.default:
                problems.append(f"{line} {name}: the default is {action.default!r}, not {cell!r}")
    assert problems == []


def test_every_import_exit_status_is_documented() -> None:
    statuses = {v for k, v in vars(command).items() if k.startswith("EXIT_")}
    # The command's own status for an interrupted run.
    if "return 130" in Path(cli.__file__).read_text():
        statuses.add(130)
    documented = {int(row[0]) for _, row in tables_headed("status", "meaning")}
    assert documented == statuses


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_every_link_and_path_the_docs_give_exists() -> None:
    problems = []
    for page in PAGES:
        text = page.read_text()
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if target.startswith(("http://", "https://")):
                continue
            file, _, anchor = target.partition("#")
            path = (page.parent / file).resolve() if file else page
            if not path.exists():
                problems.append(f"{page.name}: link to missing {target}")
            elif anchor and path.suffix == ".md":
                headings = re.findall(r"^#+ (.+)$", path.read_text(), re.MULTILINE)
                if anchor not in {_anchor(h) for h in headings}:
                    problems.append(f"{page.name}: no section #{anchor} in {file or page.name}")
        for span in re.findall(
            r"`((?:graph|sql|examples|bench|tests|scripts|docs)/[^`\s]*)`", text
        ):
            if not list(ROOT.glob(span)):
                problems.append(f"{page.name}: `{span}` is not in the repository")
    assert problems == []


def test_shell_examples_run_the_command_scripts_serve_installs() -> None:
    """After `scripts/serve` the command is .venv/bin/filmgraph; a bare `filmgraph` is not found."""
    bare = [
        f"{block.where}: {line}"
        for page in PAGES
        for block in blocks(page)
        if block.lang == "sh"
        for line in block.text.splitlines()
        if re.match(r"\s*filmgraph\b", line)
    ]
    assert bare == []


def test_the_queries_page_lists_every_filter_field_and_order() -> None:
    schema = create_schema()._schema
    text = " ".join((ROOT / "docs" / "queries.md").read_text().split())
    listed: dict[str, list[str]] = {}
    for name, fields in re.findall(r"\*\*`(\w+)`\.\*\* The fields are (.*?)\.(?: -|$)", text):
        listed[name] = [span.split(":")[0] for span in code_spans(fields)]
    for name, values in re.findall(r"`(\w+)` is one of (.*?)\.", text):
        listed[name] = code_spans(values)
    assert set(listed) == {"FilmFilter", "PersonFilter", "FilmOrderField", "PersonOrderField"}
    for name, shown in listed.items():
        gtype = schema.type_map[name]
        if isinstance(gtype, GraphQLEnumType):
            actual = list(gtype.values)
        else:
            assert isinstance(gtype, GraphQLInputObjectType)
            actual = list(gtype.fields)
        assert sorted(shown) == sorted(actual), name


def test_the_cors_section_names_every_header_cors_allows_and_exposes() -> None:
    """docs/http.md#cors lists the request headers a page may send and the answer headers its
    script may read: what graph/cors.py allows and exposes, neither more nor less."""
    text = (ROOT / "docs" / "http.md").read_text()
    section = text.split("## CORS", 1)[1].split("\n## ", 1)[0]
    sent, _, read = section.partition("expose")
    named = {c.lower() for c in code_spans(sent)}
    assert set(ALLOWED_HEADERS) <= named, sorted(set(ALLOWED_HEADERS) - named)
    exposed = {c.lower() for c in code_spans(read)}
    assert exposed == set(EXPOSED_HEADERS), sorted(exposed ^ set(EXPOSED_HEADERS))

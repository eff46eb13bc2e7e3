"""`filmgraph --help` and each subcommand's: every argument explained, and the database named."""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from graph import cli
from tests.test_docs import parsers

COMMANDS = [line for line, _ in parsers(cli.parser())]
EMBEDDED = "the embedded PostgreSQL in the per-user data directory (FILMGRAPH_DATA_DIR"
NO_DATABASE = "Uses no database"


def test_every_subcommand_argument_and_option_has_help() -> None:
    missing = []
    for line, parser in parsers(cli.parser()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                # A subcommand's line in its parent's --help.
                missing += [f"{line} {a.dest}" for a in action._choices_actions if not a.help]
            elif not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{line} {action.option_strings or action.metavar or action.dest}")
    assert missing == []
    assert len(COMMANDS) >= 11


def help_text(line: str) -> str:
    """What `filmgraph ... --help` prints, on one line."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit_:
        cli.main([*line.split()[1:], "--help"])
    assert exit_.value.code == 0
    return " ".join(out.getvalue().split())


@pytest.mark.parametrize("line", COMMANDS)
def test_help_names_the_database_used_without_database_url(line: str) -> None:
    text = help_text(line)
    assert "DATABASE_URL" in text
    assert (EMBEDDED in text) != (NO_DATABASE in text), text


def arguments(line: str, scratch_dir: Path) -> list[str]:
    """What a command that needs arguments is given to run."""
    if line == "filmgraph generate-imdb":
        return [str(scratch_dir / "imdb"), "--scale", "0.00001"]
    return []


NO_DATABASE_COMMANDS = [line for line in COMMANDS if NO_DATABASE in help_text(line)]


@pytest.mark.parametrize("line", NO_DATABASE_COMMANDS)
def test_a_command_that_says_it_uses_no_database_runs_without_one(
    line: str, scratch_dir: Path
) -> None:
    """Neither the DATABASE_URL given (nothing listens there) nor the embedded server."""
    data_dir = scratch_dir / "data"
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    for database_url in ("postgresql://nobody@127.0.0.1:1/none", None):
        run_env = {**env, "FILMGRAPH_DATA_DIR": str(data_dir)}
        if database_url:
            run_env["DATABASE_URL"] = database_url
        done = subprocess.run(
            [sys.executable, "-m", "graph.cli", *line.split()[1:], *arguments(line, scratch_dir)],
            env=run_env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout
        assert not data_dir.exists(), "it set up an embedded server"

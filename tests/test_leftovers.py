"""The suite's net for processes a test leaves running (tests/leftovers.py)."""

from __future__ import annotations

import subprocess
import sys

from tests import leftovers


def test_a_child_left_running_is_found_and_killed_with_what_it_started() -> None:
    before = leftovers.children()
    # A child that starts a grandchild, as `filmgraph import` starts its readers.
    script = "import subprocess, sys, time; subprocess.Popen(['sleep', '300']); time.sleep(300)"
    parent = subprocess.Popen([sys.executable, "-c", script])
    found = leftovers.children() - before
    assert found == {parent.pid}
    commands = leftovers.kill(found)
    assert commands == [f"{sys.executable} -c {script}"]
    assert parent.wait(timeout=30) == -9
    assert leftovers.children() - before == set()


def test_a_child_that_exited_is_not_left_running() -> None:
    before = leftovers.children()
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait(timeout=30)
    assert leftovers.children() - before == set()

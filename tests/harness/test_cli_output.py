"""The command line's messages for people: a few styles as tags, coloured on a terminal only."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import escape, render

TEXTS = [
    "plain",
    "[red] is a tag's name, [/red] too",
    "[[ doubled, ] alone, [ alone",
    r"C:\GCTI\UCConnector\UCC_Lync\etc\krb5.conf",
    "-Djava.security.properties=[x] \\[bold]",
    "",
]


@pytest.mark.parametrize("text", TEXTS)
def test_an_escaped_text_is_shown_as_it_is(text: str) -> None:
    assert render(escape(text), colour=False) == text
    assert render(escape(text), colour=True) == text


def test_tags_become_sgr_sequences_or_nothing() -> None:
    markup = f"[red]✗[/red] [bold]{escape('step [1]')}[/bold]: [dim]note[/dim]"
    assert render(markup, colour=False) == "✗ step [1]: note"
    assert render(markup, colour=True) == (
        "\x1b[31m✗\x1b[0m \x1b[1mstep [1]\x1b[0m: \x1b[2mnote\x1b[0m"
    )


def test_a_closed_style_leaves_the_outer_one_on_and_an_open_one_is_reset_at_the_end() -> None:
    assert render("[red]a [bold]b[/bold] c[/red]", colour=True) == "\x1b[31ma \x1b[1mb\x1b[0m\x1b[31m c\x1b[0m"
    assert render("[green]ok", colour=True) == "\x1b[32mok\x1b[0m"


def _stderr_of_a_failing_inspect(path: Path, **environment: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR")}
    env.update(environment)
    done = subprocess.run([sys.executable, "-m", "harness.cli", "inspect", str(path)],
                          capture_output=True, text=True, env=env, timeout=60, check=False)
    assert done.returncode == 2
    return done.stderr


def test_a_pipe_gets_plain_text_and_force_color_or_no_color_decide(tmp_path: Path) -> None:
    absent = tmp_path / "absent.pfx"
    plain = _stderr_of_a_failing_inspect(absent)
    assert plain.startswith("error: ") and "absent.pfx" in plain and "\x1b[" not in plain
    assert _stderr_of_a_failing_inspect(absent, FORCE_COLOR="1").startswith("\x1b[31merror:\x1b[0m ")
    assert "\x1b[" not in _stderr_of_a_failing_inspect(absent, NO_COLOR="1")
    assert "\x1b[" not in _stderr_of_a_failing_inspect(absent, NO_COLOR="1", FORCE_COLOR="1")  # as rich does


def test_a_name_with_brackets_is_shown_as_it_is(tmp_path: Path) -> None:
    odd = tmp_path / "a[[b] [red]c[/red].pfx"
    assert f"error: {odd}" in _stderr_of_a_failing_inspect(odd, FORCE_COLOR="1").replace("\x1b[31m", "").replace("\x1b[0m", "")

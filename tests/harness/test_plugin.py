"""The pytest plugin: scenarios collected as tests from the ``ucclab_scenarios`` folders, run in
labs of their own, judged as ``ucclab scenarios run`` judges them; and the repository's own
catalogue collected that way."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.scenarios import SCENARIOS_DIR

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]

PASSES = """\
    name: wrong-pfx-password
    symptom: UCC cannot register.
    path: mtls
    set:
      mtls_command_line.add_parameters.cert_store_pass: wrong
    expect: {outcome: rejected, codes: [pfx-wrong-password]}
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A project whose ``cases/`` folder holds scenarios and whose ``other/`` a YAML file that is not one."""
    pytester.makeini("[pytest]\nucclab_scenarios = cases\n")
    cases = pytester.mkdir("cases")
    (cases / "wrong-pfx-password.yaml").write_text(textwrap.dedent(PASSES))
    (cases / "expects-too-much.yaml").write_text(
        textwrap.dedent(PASSES).replace("wrong-pfx-password", "expects-too-much").replace("outcome: rejected", "outcome: confirmed")
    )
    pytester.mkdir("other")
    (pytester.path / "other" / "config.yaml").write_text("name: not a scenario\n")
    return pytester


def test_each_scenario_file_of_the_configured_folders_is_one_test(project: pytest.Pytester) -> None:
    collected = project.runpytest("--collect-only", "-q")
    assert collected.ret == 0
    collected.stdout.fnmatch_lines(["cases/expects-too-much.yaml::expects-too-much", "cases/wrong-pfx-password.yaml::wrong-pfx-password"])
    assert "config.yaml" not in collected.stdout.str()


def test_a_scenario_passes_on_its_expected_outcome_and_fails_naming_the_difference(project: pytest.Pytester) -> None:
    result = project.runpytest("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    output = result.stdout.str()
    assert "expects-too-much: outcome rejected, expected confirmed (codes ['pfx-wrong-password'], warnings [])" in output
    assert "Traceback" not in output


def test_an_unreadable_scenario_is_a_collection_error_naming_the_field(project: pytest.Pytester) -> None:
    (project.path / "cases" / "broken.yaml").write_text(textwrap.dedent(PASSES).replace("wrong-pfx-password", "broken").replace("path: mtls", "path: sip"))
    result = project.runpytest("--collect-only", "-q")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*broken.yaml: path: expected one of mtls, tls-kerberos, all, got 'sip'*"])


def test_the_repositorys_catalogue_is_collected_one_test_per_file() -> None:
    # As `pytest -n auto` in the repository collects it (pyproject.toml: ucclab_scenarios).
    run = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "scenarios"],
                         cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    ids = sorted(line for line in run.stdout.splitlines() if line.startswith("scenarios/"))
    assert ids == sorted(f"scenarios/{p.name}::{p.stem}" for p in SCENARIOS_DIR.glob("*.yaml"))
    assert len(ids) >= 30

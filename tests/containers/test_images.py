"""The lab's images: what each holds, what it must not hold, and build-or-reuse."""

from __future__ import annotations

import ast
import re
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.images import STANDINS_DISTRIBUTIONS, BuiltImage, apt_mirror, build_images

pytestmark = pytest.mark.containers

FAKES = Path(__file__).resolve().parents[2] / "fakes"


def _run(client: Any, image: str, code: str, *args: str) -> tuple[int, str]:
    """Run ``python3 -c CODE ARGS...`` in a throwaway container of ``image``; exit status and output."""
    container = client.containers.run(image, ["python3", "-c", code, *args], detach=True)
    try:
        status = container.wait(timeout=120)["StatusCode"]
        return status, container.logs().decode(errors="replace")
    finally:
        container.remove(force=True)


def _fakes_packages() -> list[str]:
    modules = [f"fakes.{p.name}" for p in sorted(FAKES.iterdir()) if (p / "__init__.py").is_file()]
    modules += [f"fakes.{p.stem}" for p in sorted(FAKES.glob("*.py")) if not p.stem.startswith("_") and p.stem != "__init__"]
    return modules


def _requirement_closure(names: set[str]) -> set[str]:
    """The distributions ``names`` need, themselves included (installed metadata, extras left out)."""
    seen: set[str] = set()
    todo = [_canonical(n) for n in names]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requirements = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue  # required under another Python only (async-timeout: python_version < "3.11")
        for requirement in requirements:
            if "extra ==" not in requirement:
                todo.append(_canonical(re.split(r"[\s<>=!~;\[(]", requirement, maxsplit=1)[0]))
    return seen


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_standins_distributions_cover_what_fakes_imports() -> None:
    imported: set[str] = set()
    for path in FAKES.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    third_party = {m for m in imported if m not in sys.stdlib_module_names and m != "fakes"}
    assert {"cryptography", "OpenSSL", "aiohttp", "impacket", "sipmessage"} <= third_party
    owners = metadata.packages_distributions()
    closure = _requirement_closure(set(STANDINS_DISTRIBUTIONS))
    uncovered = {m: owners.get(m) for m in third_party
                 if not any(_canonical(d) in closure for d in owners.get(m, []))}
    assert uncovered == {}, f"fakes imports modules the stand-ins' image would lack: {uncovered}"


def test_apt_mirror_reads_one_line_and_deb822_sources(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text("# nothing\ndeb [arch=amd64] http://mirror.example/debian-security bookworm-security main\n")
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://other.example/x\nSuites: trixie\n\n"
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n")
    assert apt_mirror(tmp_path) == "http://mirror.example/debian"
    (tmp_path / "sources.list").write_text("deb http://one-line.example/debian bookworm main\n")
    assert apt_mirror(tmp_path) == "http://one-line.example/debian"
    assert apt_mirror(tmp_path / "missing") == "http://deb.debian.org/debian"


def test_standins_image_has_no_harness(docker_engine: Any, lab_images: dict[str, BuiltImage]) -> None:
    status, output = _run(docker_engine, lab_images["ucclab-standins"].tag, "import harness")
    assert status == 1
    assert "ModuleNotFoundError: No module named 'harness'" in output


def test_standins_image_imports_every_fakes_package(docker_engine: Any, lab_images: dict[str, BuiltImage]) -> None:
    packages = _fakes_packages()
    assert {"fakes.ca", "fakes.kdc", "fakes.frontend", "fakes.configserver", "fakes.kerberos", "fakes.sip"} <= set(packages)
    code = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\nprint('imported', len(sys.argv) - 1)"
    status, output = _run(docker_engine, lab_images["ucclab-standins"].tag, code, *packages)
    assert (status, output.strip()) == (0, f"imported {len(packages)}"), output


def test_lab_image_holds_harness_and_its_libraries(docker_engine: Any, lab_images: dict[str, BuiltImage]) -> None:
    code = "import harness.cli, harness.connector, harness.artifacts, jks, fakes.kdc; print(jks.__name__)"
    status, output = _run(docker_engine, lab_images["ucclab-lab"].tag, code)
    assert (status, output.strip()) == (0, "jks"), output


def test_images_are_tagged_by_their_sources_and_reused(docker_engine: Any, lab_images: dict[str, BuiltImage]) -> None:
    again = build_images(client=docker_engine)
    for name, first in lab_images.items():
        assert first.tag.startswith(f"{name}:src-")
        assert (again[name].tag, again[name].id, again[name].reused) == (first.tag, first.id, True)
        assert docker_engine.images.get(f"{name}:latest").id == first.id
    # Base layers are shared; the stand-ins' image is the smaller one.
    assert lab_images["ucclab-standins"].size < lab_images["ucclab-lab"].size


def test_cli_image_build_says_it_reused(lab_images: dict[str, BuiltImage], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["image", "build"]) == 0
    err = capsys.readouterr().err
    for image in lab_images.values():
        assert f"{image.tag}: reused" in err


def test_cli_image_build_without_engine_names_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    socket_path = tmp_path / "no-engine.sock"
    monkeypatch.setenv("DOCKER_HOST", f"unix://{socket_path}")
    assert main(["image", "build"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"cannot reach the Docker engine at unix://{socket_path}: start dockerd" in err


def test_cli_image_build_with_a_missing_base(docker_engine: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["image", "build", "--base", "ucclab-no-such-base:never"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "base image 'ucclab-no-such-base:never' is not in the engine" in err

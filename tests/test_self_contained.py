"""The repository stands alone: no code or test reads a path outside it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# A path built to climb out of the repository: a relative path into a folder beside it
# ("../name/..."), a ".." joined to a path, an absolute path into the machine's checkouts.
CLIMBS = re.compile(r"""["']\.\./[\w.-]+/|/\s*["']\.\.["']|["']/work/""")
# A parent of this file's folder: parents[N] and .parent after it, counted against its depth.
PARENTS = re.compile(r"""parents\[(\d+)\]((?:\.parent\b)*)""")


def _escapes(relative: Path, line: str) -> bool:
    """Whether ``line`` of the file at ``relative`` (to the root) reaches outside the root."""
    if CLIMBS.search(line):
        return True
    deepest = len(relative.parts) - 1  # parents[deepest] is the repository's root
    return any(int(m.group(1)) + m.group(2).count(".parent") > deepest for m in PARENTS.finditer(line))


def test_no_source_reaches_outside_the_repository() -> None:
    offenders = []
    for folder in ("fakes", "harness", "tests", "benchmarks", ".ci"):
        for path in sorted((ROOT / folder).rglob("*")):
            if not path.is_file() or path.suffix not in (".py", ".java", "") or path == Path(__file__):
                continue
            relative = path.relative_to(ROOT)
            for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
                if _escapes(relative, line):
                    offenders.append(f"{relative}:{number}: {line.strip()}")
    assert offenders == []


def test_the_climbing_paths_are_recognised() -> None:
    # Each way a path can leave the repository is caught; paths inside it are not.
    tests_file = Path("tests") / "harness" / "test_x.py"
    for line in ('CORPORA = ROOT / "../corpora/rfc4475"', 'SEED = REPO / ".." / "seed"',
                 'DATA = Path("/work/other/data")', "UP = Path(__file__).resolve().parents[3]",
                 "UP = Path(__file__).parents[2].parent"):
        assert _escapes(tests_file, line), line
    for line in ("REPO = Path(__file__).resolve().parents[2]", 'value in (".", "..")', '["../escape.pfx"]'):
        assert not _escapes(tests_file, line), line


def test_the_reference_data_is_in_the_repository() -> None:
    data = ROOT / "tests" / "data"
    assert len(list((data / "rfc4475").glob("*.dat"))) == 49
    assert {p.name for p in (data / "page").iterdir()} >= {"mtls-arguments.txt", "tls-arguments.txt"}
    assert "Simplified BSD License" in " ".join((data / "README.md").read_text(encoding="utf-8").split())

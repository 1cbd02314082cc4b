"""The lab's container images, made without a container registry.

Two images, from ``compose/Dockerfile``, on a Debian bookworm base made here::

    built = build_images()                      # or build_images("my-base:tag")
    built["ucclab-standins"].tag                # ucclab-standins:src-<16 hex>
    built["ucclab-lab"].reused                  # True when nothing changed since the last build

- **ucclab-standins** holds ``fakes/`` and the libraries ``fakes`` imports
  (:data:`STANDINS_DISTRIBUTIONS`), never ``harness/``: a stand-in runs alone, next to the
  real UC Connector. Its build context does not even contain ``harness/``.
- **ucclab-lab** holds ``fakes/`` and ``harness/`` with all the project's libraries: the UC
  Connector stand-in on ``ucc01`` and compose's ``prepare`` step run from it.

Rules:

1. *The base.* With no base given, the base is ``ucclab-base:bookworm-<recipe digest>``:
   ``debootstrap --variant=minbase`` of bookworm with :data:`BASE_PACKAGES` from the mirror
   the host's apt uses, then ``docker import``. It is made once and reused while it exists
   (about a minute to make). A given base must already be in the engine (there is no
   registry to pull from) and hold python3, python3-venv and apt.
2. *Build or reuse.* An image's tag is a digest of everything that decides its content:
   the Dockerfile, its requirements (from ``pyproject.toml``'s dependencies), its sources
   (``fakes/``, and ``harness/`` for the lab) and the base image's id. When an image with
   that tag exists it is reused, so an unchanged tree builds nothing. Each build also tags
   ``NAME:latest``, the name ``compose/compose.yaml`` uses.
3. *The host's CA bundle* goes into the build stages (pip behind a TLS-inspecting mirror
   needs it), not into the final images and not into the digest.
4. *One builder at a time.* Builds take a file lock, so parallel callers (pytest-xdist
   workers, two shells) wait for one build and then reuse it.
5. *Failures are clear.* No engine: :class:`~harness.containers.EngineUnavailable`;
   debootstrap missing, a base that isn't there: :class:`ImageUsageError` (both exit 2
   in the CLI); a build that fails: :class:`ImageBuildError` with the build's last lines.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker.errors

from .containers import ContainerError, connect

__all__ = [
    "BASE_PACKAGES",
    "STANDINS_DISTRIBUTIONS",
    "IMAGE_NAMES",
    "BuiltImage",
    "ImageError",
    "ImageUsageError",
    "ImageBuildError",
    "build_images",
    "default_base_tag",
]

REPOSITORY = Path(__file__).resolve().parent.parent
DOCKERFILE = REPOSITORY / "compose" / "Dockerfile"

BASE_SUITE = "bookworm"
#: What debootstrap puts into the base beside ``minbase``: python3-venv brings ensurepip
#: (so no python3-pip), ca-certificates lets pip and apt inside the image speak TLS.
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates")
#: The distributions ``fakes`` imports (cryptography, OpenSSL, aiohttp, impacket with
#: pyasn1, Cryptodome, sipmessage); their version specifiers come from pyproject.toml.
#: ``tests/containers/test_images.py`` checks this against the imports of ``fakes/``.
STANDINS_DISTRIBUTIONS = ("cryptography", "pyOpenSSL", "aiohttp", "impacket", "pycryptodomex", "sipmessage")
STANDINS, LAB = "ucclab-standins", "ucclab-lab"
IMAGE_NAMES = (STANDINS, LAB)
_FALLBACK_MIRROR = "http://deb.debian.org/debian"
_HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
_LOG_TAIL = 30  # build output lines kept for an error message


class ImageError(ContainerError):
    """An image could not be made."""


class ImageUsageError(ImageError):
    """Something the caller must fix first: debootstrap missing, a base image that isn't there."""


class ImageBuildError(ImageError):
    """A build step failed; the message ends with the build's last lines."""


@dataclass(frozen=True)
class BuiltImage:
    """One of the lab's images, ready in the engine."""

    name: str  #: ``ucclab-standins`` or ``ucclab-lab``
    tag: str  #: ``NAME:src-<digest>``: what to run
    id: str
    size: int  #: bytes, as ``docker images`` counts them (shared base layer included)
    reused: bool  #: True when the tag already existed and nothing was built
    seconds: float  #: time spent on this image (building or finding it)

    def summary(self) -> str:
        """One line for people: the tag, reused or built in how long, and the size."""
        how = "reused" if self.reused else f"built in {self.seconds:.1f} s"
        return f"{self.tag}: {how}, {self.size / 1e6:.0f} MB"


def _silent(_line: str) -> None:
    pass


def build_images(base: str | None = None, *, progress: Callable[[str], None] = _silent,
                 client: Any = None) -> dict[str, BuiltImage]:
    """Build or reuse the lab's images; returns them by name (``ucclab-standins``, ``ucclab-lab``).

    ``base`` is an image already in the engine; without it the lab's own base is made once
    by debootstrap (rule 1). ``progress`` receives one line per long step (debootstrap,
    each Dockerfile step). Raises :class:`~harness.containers.EngineUnavailable`,
    :class:`ImageUsageError` or :class:`ImageBuildError`.
    """
    client = client or connect()
    with _build_lock():
        base_ref = base or _ensure_base(client, progress)
        try:
            base_id = client.images.get(base_ref).id
        except docker.errors.ImageNotFound:
            raise ImageUsageError(f"base image {base_ref!r} is not in the engine (no registry is used: "
                                  "build or load it first, or leave --base out to make the lab's own)") from None
        requirements = _requirements()
        built: dict[str, BuiltImage] = {}
        for name, target, folders, requirement_files in (
            (STANDINS, "standins", ("fakes",), ("requirements-standins.txt",)),
            (LAB, "lab", ("fakes", "harness"), ("requirements-standins.txt", "requirements-lab.txt")),
        ):
            files = {f: requirements[f] for f in requirement_files}
            built[name] = _build_or_reuse(client, name, target, base_ref, base_id, folders, files, progress)
        return built


def default_base_tag() -> str:
    """The lab's own base: ``ucclab-base:bookworm-<digest of the debootstrap recipe>``."""
    recipe = f"{BASE_SUITE} minbase {','.join(BASE_PACKAGES)}".encode()
    return f"ucclab-base:{BASE_SUITE}-{hashlib.sha256(recipe).hexdigest()[:12]}"


# -- the base ---------------------------------------------------------------------------

def _ensure_base(client: Any, progress: Callable[[str], None]) -> str:
    tag = default_base_tag()
    try:
        client.images.get(tag)
        return tag
    except docker.errors.ImageNotFound:
        pass
    debootstrap = shutil.which("debootstrap") or shutil.which("debootstrap", path="/usr/sbin:/sbin")
    if debootstrap is None:
        raise ImageUsageError("debootstrap is not installed; it makes the lab's base image "
                              "(Debian: apt-get install debootstrap), or pass --base IMAGE")
    if os.geteuid() != 0:
        raise ImageUsageError("making the base image with debootstrap needs root; run as root or pass --base IMAGE")
    mirror = apt_mirror()
    started = time.monotonic()
    rootfs = Path(tempfile.mkdtemp(prefix="ucclab-rootfs-"))
    try:
        progress(f"making the base image {tag}: debootstrap {BASE_SUITE} from {mirror} (about a minute)")
        done = subprocess.run(
            [debootstrap, "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}", BASE_SUITE, str(rootfs), mirror],
            capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-_LOG_TAIL:])
            raise ImageBuildError(f"debootstrap {BASE_SUITE} from {mirror} failed (exit {done.returncode}):\n{tail}")
        # The downloaded .deb files and apt's lists are not needed at run time.
        for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for entry in (rootfs / leftover).glob("*"):
                if entry.is_file():
                    entry.unlink()
        progress(f"importing {tag}")
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "--numeric-owner", "-c", "."], stdout=subprocess.PIPE)
        try:
            assert tar.stdout is not None
            client.api.import_image(src=tar.stdout, stream_src=True, repository=tag.split(":")[0],
                                    tag=tag.split(":")[1], changes=["ENV LANG=C.UTF-8", 'CMD ["python3"]'])
        finally:
            if tar.stdout is not None:
                tar.stdout.close()
            if tar.wait() != 0:
                raise ImageBuildError(f"tar of the base's root file system failed (exit {tar.returncode})")
        progress(f"base image {tag} made in {time.monotonic() - started:.0f} s")
        return tag
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)


def apt_mirror(sources: Path = Path("/etc/apt")) -> str:
    """The Debian mirror the host's apt uses for bookworm (else ``deb.debian.org``).

    Reads one-line (``deb URI SUITE ...``) and deb822 (``URIs:`` / ``Suites:``) sources.
    """
    files = [sources / "sources.list", *sorted((sources / "sources.list.d").glob("*.list")),
             *sorted((sources / "sources.list.d").glob("*.sources"))]
    for path in files:
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        for stanza in re.split(r"\n\s*\n", text):
            uris = re.search(r"^URIs:\s*(\S+)", stanza, re.M)
            suites = re.search(r"^Suites:\s*(.+)$", stanza, re.M)
            if uris and suites and BASE_SUITE in suites.group(1).split():
                return uris.group(1)
            for line in stanza.splitlines():
                fields = re.sub(r"\[[^]]*\]", "", line).split()
                if len(fields) >= 3 and fields[0] == "deb" and fields[2] == BASE_SUITE:
                    return fields[1]
    return _FALLBACK_MIRROR


# -- the images -------------------------------------------------------------------------

def _requirements() -> dict[str, str]:
    """requirements-standins.txt and requirements-lab.txt from pyproject.toml's dependencies."""
    project = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())["project"]
    wanted = {_canonical(d) for d in STANDINS_DISTRIBUTIONS}
    standins, rest, found = [], [], set()
    for dependency in project["dependencies"]:
        name = _canonical(re.split(r"[\s<>=!~;\[(]", dependency, maxsplit=1)[0])
        found.add(name)
        (standins if name in wanted else rest).append(dependency)
    missing = wanted - found
    if missing:
        raise ImageUsageError(f"pyproject.toml has no dependency for {', '.join(sorted(missing))}, which fakes/ imports")
    return {"requirements-standins.txt": "\n".join(standins) + "\n",
            "requirements-lab.txt": "\n".join(rest) + "\n"}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _source_files(folder: str) -> Iterator[Path]:
    root = REPOSITORY / folder
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            yield path


def _digest(dockerfile: bytes, base_id: str, folders: tuple[str, ...], files: dict[str, str]) -> str:
    digest = hashlib.sha256()
    digest.update(dockerfile + b"\0" + base_id.encode() + b"\0")
    for name, text in sorted(files.items()):
        digest.update(f"{name}\0".encode() + text.encode() + b"\0")
    for folder in folders:
        for path in _source_files(folder):
            digest.update(str(path.relative_to(REPOSITORY)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _build_or_reuse(client: Any, name: str, target: str, base_ref: str, base_id: str,
                    folders: tuple[str, ...], files: dict[str, str], progress: Callable[[str], None]) -> BuiltImage:
    started = time.monotonic()
    try:
        dockerfile = DOCKERFILE.read_bytes()
    except OSError as exc:
        raise ImageUsageError(f"{DOCKERFILE}: {exc.strerror} (image builds need the repository's compose/ folder)") from None
    tag = f"{name}:src-{_digest(dockerfile, base_id, folders, files)}"
    try:
        image = client.images.get(tag)
        image.tag(name, "latest")
        return BuiltImage(name, tag, image.id, image.attrs["Size"], True, time.monotonic() - started)
    except docker.errors.ImageNotFound:
        pass
    progress(f"building {tag} (target {target} of {DOCKERFILE.relative_to(REPOSITORY)})")
    context = Path(tempfile.mkdtemp(prefix=f"ucclab-{target}-context-"))
    try:
        shutil.copyfile(DOCKERFILE, context / "Dockerfile")
        for file_name, text in files.items():
            (context / file_name).write_text(text)
        bundle = _HOST_CA_BUNDLE if _HOST_CA_BUNDLE.is_file() else None
        (context / "build-ca.crt").write_bytes(bundle.read_bytes() if bundle else b"")
        for folder in folders:
            for path in _source_files(folder):
                destination = context / path.relative_to(REPOSITORY)
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, destination)
        image_id = _run_build(client, context, target, tag, base_ref, progress)
    finally:
        shutil.rmtree(context, ignore_errors=True)
    image = client.images.get(image_id)
    image.tag(name, "latest")
    seconds = time.monotonic() - started
    progress(f"built {tag} in {seconds:.1f} s")
    return BuiltImage(name, tag, image.id, image.attrs["Size"], False, seconds)


def _run_build(client: Any, context: Path, target: str, tag: str, base_ref: str,
               progress: Callable[[str], None]) -> str:
    """Run one ``docker build``; the image id, or :class:`ImageBuildError` with the last lines."""
    tail: list[str] = []
    image_id = None
    # network_mode=host: the build's apt and pip reach the package mirrors as the host does.
    stream = client.api.build(path=str(context), tag=tag, target=target, buildargs={"BASE": base_ref},
                              network_mode="host", rm=True, forcerm=True, decode=True,
                              labels={"ucclab.sources": tag.split(":src-")[1]})
    try:
        for chunk in stream:
            if "error" in chunk:
                tail.append(str(chunk["error"]).rstrip())
                raise ImageBuildError(f"building {tag} failed:\n" + "\n".join(tail[-_LOG_TAIL:]))
            if "aux" in chunk and "ID" in chunk["aux"]:
                image_id = chunk["aux"]["ID"]
            for line in str(chunk.get("stream", "")).splitlines():
                if line.strip():
                    tail.append(line.rstrip())
                    if line.startswith("Step "):
                        progress(f"  {line.strip()}")
    except docker.errors.APIError as exc:
        raise ImageBuildError(f"building {tag} failed: {exc.explanation or exc}") from None
    if image_id is None:
        raise ImageBuildError(f"building {tag} gave no image:\n" + "\n".join(tail[-_LOG_TAIL:]))
    return image_id


@contextmanager
def _build_lock() -> Iterator[None]:
    """One image builder at a time on this machine (rule 4)."""
    path = Path(tempfile.gettempdir()) / "ucclab-images.lock"
    with open(path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)

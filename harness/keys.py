"""Lab keys made once per machine: RSA keys and the CA's state, kept in a private cache.

Generating an RSA-2048 key costs tens of milliseconds and a new lab needs several (the
CA's, certsrv's HTTPS key, fe01's domain certificate, the certificate the page requests),
which made key generation a large part of ``ucclab replay``. A :class:`KeyCache` makes each
key once and keeps it for the next labs::

    CACHE/keys/                      mode 0700
    CACHE/keys/<role>-rsa<bits>.pem  one key per role and size (PKCS#8 PEM, mode 0600)
    CACHE/keys/ca-<id>-<code>/       a CA state folder per CA identity (the topology's CA
                                     name, host, tiers) and version of the CA stand-in's
                                     code, copied into each new lab's workdir

``CACHE`` is ``$XDG_CACHE_HOME/ucclab``, else ``~/.cache/ucclab`` (where the Java probe's
classes are kept too). A role is what the key is for in a lab (``frontend-domain``,
``shell-request``, ...): two roles never share a key, so no two certificates of one lab
share one unless the page says so. A CA state folder older than :data:`CA_SEED_MAX_AGE` is
made again (its certificates age: certsrv's HTTPS certificate is valid for two years), and
one made by other code of the CA stand-in is not used (its state folder's format may differ):
the folder's name carries a digest of ``fakes/ca``'s sources.

:meth:`KeyCache.clear` (``ucclab replay --fresh-keys``) throws the kept keys and CAs away:
the next labs make new ones, and keep those.

Files are written atomically (a temporary file or folder renamed into place), so processes
that race here (pytest-xdist workers, ``ucclab scenarios run``'s workers) each end up with
one complete key or folder.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import fakes
from fakes._files import write_private_file

from .javaprobe import _default_cache_root

if TYPE_CHECKING:  # cryptography and the CA are imported when a key or a CA is needed
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

    from .lab import Topology

__all__ = ["KeyCache", "KeyCacheError", "CA_SEED_MAX_AGE", "default_cache_folder"]

#: A cached CA state folder older than this (seconds) is made again.
CA_SEED_MAX_AGE = 30 * 24 * 3600


class KeyCacheError(RuntimeError):
    """The cache folder cannot be used (not ours, not writable); the message names it."""


def default_cache_folder() -> Path:
    """``$XDG_CACHE_HOME/ucclab/keys``, else ``~/.cache/ucclab/keys``."""
    return _default_cache_root() / "keys"


class KeyCache:
    """RSA keys by role and size, and CA state folders by CA identity, made once and kept in
    ``folder`` (see the module's docstring)."""

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)
        self._keys: dict[tuple[str, int], RSAPrivateKey] = {}
        self._seeds: dict[str, Path] = {}
        # Labs of one process (pytest's, a scenario worker's) may ask from several threads.
        self._lock = threading.Lock()

    @classmethod
    def default(cls) -> KeyCache:
        """The machine's cache (:func:`default_cache_folder`)."""
        return cls(default_cache_folder())

    def __getstate__(self) -> dict[str, Path]:
        # To a worker process: the folder only; it reads the keys itself.
        return {"folder": self.folder}

    def __setstate__(self, state: dict[str, Path]) -> None:
        self.__init__(state["folder"])  # type: ignore[misc]

    def clear(self) -> None:
        """Forget every kept key and CA, here and on disk: later labs make (and keep) new ones."""
        with self._lock:
            self._keys.clear()
            self._seeds.clear()
            if self.folder.is_dir():
                for entry in self._private_folder().iterdir():
                    if entry.is_dir():
                        shutil.rmtree(entry, ignore_errors=True)
                    else:
                        entry.unlink(missing_ok=True)

    def _private_folder(self) -> Path:
        """The cache folder, mode 0700 whatever the umask; refused when another user owns it."""
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            if self.folder.stat().st_uid != os.getuid():
                raise KeyCacheError(f"{self.folder}: the key cache belongs to another user; give XDG_CACHE_HOME a folder of yours")
            os.chmod(self.folder, 0o700)
        except OSError as exc:
            raise KeyCacheError(f"{self.folder}: cannot keep lab keys there ({exc.strerror})") from None
        return self.folder

    # -- RSA keys --------------------------------------------------------------------------
    def rsa_key(self, role: str, bits: int = 2048) -> RSAPrivateKey:
        """The key of ``role`` with ``bits`` bits: made (and kept) the first time it is asked for."""
        with self._lock:
            key = self._keys.get((role, bits))
            if key is None:
                key = self._keys[(role, bits)] = self._load_or_make(role, bits)
            return key

    def _load_or_make(self, role: str, bits: int) -> RSAPrivateKey:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        path = self._private_folder() / f"{role}-rsa{bits}.pem"
        try:
            # The cache's own file (0600 in a 0700 folder, written whole and at once): checked
            # for its kind and size, not validated again (RSA validation costs ~35 ms a key).
            key = serialization.load_pem_private_key(path.read_bytes(), password=None, unsafe_skip_rsa_key_validation=True)
            if isinstance(key, rsa.RSAPrivateKey) and key.key_size == bits:
                return key
        except (OSError, ValueError, TypeError):
            pass  # missing or unreadable: made again below
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        write_private_file(path, pem)
        return key

    # -- CA state folders -----------------------------------------------------------------------
    def ca_seed(self, topology: Topology) -> Path:
        """A complete CA state folder for ``topology``'s CA (its name, host and tiers), to be
        copied with :meth:`copy_ca_seed`; made when missing or older than :data:`CA_SEED_MAX_AGE`."""
        identity = f"{topology.ca_name}\0{topology.ca_fqdn}\0{topology.two_tier_ca}\0{topology.root_ca_name if topology.two_tier_ca else ''}"
        name = f"ca-{hashlib.sha256(identity.encode()).hexdigest()[:16]}-{_ca_code_digest()}"
        with self._lock:
            seed = self._seeds.get(name)
            if seed is None:
                seed = self._seeds[name] = self._ca_seed(self._private_folder() / name, topology)
            return seed

    def _ca_seed(self, final: Path, topology: Topology) -> Path:
        age = _complete_seed_age(final)
        if age is not None and age < CA_SEED_MAX_AGE:
            return final
        from fakes.ca import CertificationAuthority

        _remove_old_seeds(final.parent)
        building = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
        try:
            CertificationAuthority.create(
                building,
                common_name=topology.ca_name,
                host_fqdn=topology.ca_fqdn,
                two_tier=topology.two_tier_ca,
                root_common_name=topology.root_ca_name,
            ).close()
            if final.exists():
                # Out with the old one first; a lab copying it now retries (copy_ca_seed).
                old = Path(tempfile.mkdtemp(prefix=f".{final.name}-old-", dir=final.parent))
                try:
                    os.rename(final, old / "seed")
                except FileNotFoundError:
                    pass  # another process replaced it just now
                shutil.rmtree(old, ignore_errors=True)
            try:
                os.rename(building, final)
            except OSError:
                # Another process put its new folder in place first: use that one.
                if _complete_seed_age(final) is None:
                    raise
        finally:
            shutil.rmtree(building, ignore_errors=True)
        return final

    @staticmethod
    def copy_ca_seed(seed: Path, destination: Path, *, attempts: int = 3) -> None:
        """Copy a CA state folder of :meth:`ca_seed` to ``destination`` (which must not
        exist); a copy that loses a race with a process renewing the seed is tried again."""
        for attempt in range(attempts):
            try:
                shutil.copytree(seed, destination)
                return
            except (FileNotFoundError, shutil.Error):
                shutil.rmtree(destination, ignore_errors=True)
                if attempt == attempts - 1:
                    raise
                time.sleep(0.05)


def _ca_code_digest() -> str:
    """A digest of the CA stand-in's sources (``fakes/ca/*.py``): its state format's version."""
    digest = hashlib.sha256()
    for source in sorted((Path(fakes.__file__).parent / "ca").glob("*.py")):
        digest.update(source.name.encode() + b"\0" + source.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def _remove_old_seeds(folder: Path) -> None:
    """Remove the CA state folders older than :data:`CA_SEED_MAX_AGE` (made by code since
    changed, or expired), and what a killed process left half made."""
    for entry in folder.iterdir():
        if not entry.is_dir() or not re.fullmatch(r"\.?ca-[0-9a-f-]+.*", entry.name):
            continue
        age = _complete_seed_age(entry)
        if age is None:
            try:
                age = time.time() - entry.stat().st_mtime
            except OSError:
                continue
        if age > CA_SEED_MAX_AGE:
            shutil.rmtree(entry, ignore_errors=True)


def _complete_seed_age(folder: Path) -> float | None:
    """Seconds since the CA state folder ``folder`` was completed (its ``ca.json``, written
    last, is there), or None when there is none."""
    try:
        return time.time() - (folder / "ca.json").stat().st_mtime
    except OSError:
        return None

"""The lab's key cache: keys and CAs made once, kept as secrets, renewed on demand, and what
labs built from it are."""

from __future__ import annotations

import asyncio
import os
import stat
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from fakes.ca import CertificationAuthority
from harness.artifacts import read_pfx
from harness.keys import CA_SEED_MAX_AGE, KeyCache
from harness.lab import Lab, Topology
from harness.replay import replay


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _numbers(key) -> int:  # noqa: ANN001 - an RSA private key
    return key.private_numbers().public_numbers.n


def test_a_key_is_made_once_kept_private_and_read_back_by_another_cache(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        keys = KeyCache(tmp_path / "keys")
        key = keys.rsa_key("shell-request")
    finally:
        os.umask(old)
    assert key.key_size == 2048
    assert keys.rsa_key("shell-request") is key
    path = tmp_path / "keys" / "shell-request-rsa2048.pem"
    assert (_mode(tmp_path / "keys"), _mode(path)) == (0o700, 0o600)
    again = KeyCache(tmp_path / "keys").rsa_key("shell-request")
    assert _numbers(again) == _numbers(key)
    # Another role or size is another key.
    assert _numbers(keys.rsa_key("web-request")) != _numbers(key)
    small = keys.rsa_key("web-request", 1024)
    assert small.key_size == 1024 and (tmp_path / "keys" / "web-request-rsa1024.pem").is_file()


def test_a_damaged_or_wrong_sized_key_file_is_made_again(tmp_path: Path) -> None:
    folder = tmp_path / "keys"
    folder.mkdir()
    (folder / "shell-request-rsa2048.pem").write_bytes(b"-----BEGIN PRIVATE KEY-----\nnot a key\n")
    key = KeyCache(folder).rsa_key("shell-request")
    assert key.key_size == 2048
    written = serialization.load_pem_private_key((folder / "shell-request-rsa2048.pem").read_bytes(), None)
    assert _numbers(written) == _numbers(key)
    # A 2048-bit key filed under another size is not taken for it.
    (folder / "frontend-domain-rsa1024.pem").write_bytes((folder / "shell-request-rsa2048.pem").read_bytes())
    assert KeyCache(folder).rsa_key("frontend-domain", 1024).key_size == 1024


def test_clear_forgets_every_key_and_ca(tmp_path: Path) -> None:
    keys = KeyCache(tmp_path / "keys")
    key = keys.rsa_key("frontend-domain")
    seed = keys.ca_seed(Topology())
    keys.clear()
    assert list((tmp_path / "keys").iterdir()) == []
    assert _numbers(keys.rsa_key("frontend-domain")) != _numbers(key)
    renewed = keys.ca_seed(Topology())
    assert renewed == seed and (renewed / "ca.json").is_file()


def test_a_ca_is_made_once_per_ca_identity_and_remade_when_old(tmp_path: Path) -> None:
    keys = KeyCache(tmp_path / "keys")
    one_tier = keys.ca_seed(Topology())
    assert KeyCache(tmp_path / "keys").ca_seed(Topology(ucc_host="ucc02")) == one_tier  # the CA is the same
    two_tier = keys.ca_seed(Topology(two_tier_ca=True))
    assert two_tier != one_tier and _mode(two_tier) == 0o700
    with CertificationAuthority.open(two_tier) as ca:
        assert ca.two_tier and ca.common_name == Topology().ca_name
    certificate = (one_tier / "ca.pem").read_bytes()
    # Older than the limit: made again (a new CA), in the same place.
    stale = time.time() - CA_SEED_MAX_AGE - 60
    os.utime(one_tier / "ca.json", (stale, stale))
    assert KeyCache(tmp_path / "keys").ca_seed(Topology()) == one_tier
    assert (one_tier / "ca.pem").read_bytes() != certificate


def test_a_copy_of_the_cached_ca_opens_as_that_ca(tmp_path: Path, ucclab_ca_seed: Path) -> None:
    seed = ucclab_ca_seed
    KeyCache.copy_ca_seed(seed, tmp_path / "lab-ca")
    with CertificationAuthority.open(tmp_path / "lab-ca") as ca:
        assert ca.certificate.public_bytes(serialization.Encoding.PEM) == (seed / "ca.pem").read_bytes()
    with pytest.raises(FileExistsError):
        KeyCache.copy_ca_seed(seed, tmp_path / "lab-ca")


def test_labs_from_one_cache_share_its_ca_and_keys_and_still_confirm(tmp_path: Path, ucclab_keys: KeyCache) -> None:
    keys = ucclab_keys

    async def run(workdir: Path) -> tuple[str, bytes, int, int]:
        async with Lab(workdir, keys=keys) as lab:
            result = await replay(lab, "mtls")
            fe01 = lab.host("frontend")
            [entry] = fe01.personal.find(subject_cn=fe01.fqdn)
            pfx = read_pfx(lab.manifest.file("ucc-pfx"), "mnopqr")
            return (result.outcome, (lab.state_dir / "ca" / "ca.pem").read_bytes(),
                    _numbers(fe01.personal.private_key(entry)), _numbers(pfx.private_key))

    first, second = asyncio.run(run(tmp_path / "one")), asyncio.run(run(tmp_path / "two"))
    assert first[0] == second[0] == "confirmed"
    assert first[1] == second[1] == (keys.ca_seed(Topology()) / "ca.pem").read_bytes()
    # fe01's domain key, and the key Request-CsCertificate made for the connector's PFX.
    assert first[2] == second[2] == _numbers(keys.rsa_key("frontend-domain"))
    assert first[3] == second[3] == _numbers(keys.rsa_key("shell-request")) != first[2]

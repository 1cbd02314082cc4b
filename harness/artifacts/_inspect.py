"""``ucclab inspect FILE``: what a .cer, .pfx, .jks or krb5.conf holds.

The output combines what ``certutil -dump``, ``openssl pkcs12 -info`` and ``keytool -list
-v`` would each show, so one look answers the questions customers' files raise: is this
really DER, does the PFX carry its key and chain, what does Java see in this store.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path
from typing import Any

from . import _pkcs12
from ._certificates import describe_certificate, load_certificate_bytes
from ._errors import ArtifactError
from ._formats import describe_format, detect_format, pem_blocks
from ._keystore import KeyStore, read_keystore
from ._krb5 import read_krb5_conf
from ._pfx import parse_pfx_file, read_pfx
from ._reading import read_artifact_bytes

__all__ = ["inspect_file", "render_inspection"]

# What a file's name makes its user declare it as (-key_store_type, keytool -storetype).
_DECLARED_BY_SUFFIX = {".jks": "jks", ".keystore": "jks", ".jceks": "jceks", ".p12": "pkcs12", ".pfx": "pkcs12"}


def inspect_file(path: Path | str | os.PathLike[str], password: str | None = None) -> dict[str, Any]:
    """Describe a file as JSON-able data: ``format`` first, then what the format holds.

    Certificates: subject, issuer, serial, validity, SANs, EKUs, key usage, key, AD CS
    template, SHA-1 thumbprint and SHA-256. PFX: the PKCS#12 structure (readable without
    password), the key and the chain in order (with the password), and the entries Java
    would load. Key stores: the type the file's name implies versus the real one, and the
    entries. krb5.conf: its sections. Raises :class:`ArtifactError` for unreadable input.
    """
    path = Path(path)
    data = read_artifact_bytes(path)
    fmt = detect_format(data)
    info: dict[str, Any] = {
        "file": str(path),
        "format": fmt,
        "format_description": describe_format(fmt),
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "notes": [],
    }
    if fmt in ("der-certificate", "pem-certificate"):
        info["certificate"] = describe_certificate(load_certificate_bytes(data, path))
        extra = len([b for b in pem_blocks(data) if b[0] == "CERTIFICATE"]) - 1 if fmt == "pem-certificate" else 0
        if extra > 0:
            info["notes"].append(f"{extra} more certificate(s) follow; keytool and openssl x509 read only the first")
    elif fmt == "pkcs12":
        _inspect_pkcs12(path, data, password, info)
    elif fmt in ("jks", "jceks"):
        info["keystore"] = _keystore(read_keystore(path, password, _declared_type(path, fmt)))
    elif fmt == "krb5.conf":
        info["krb5_conf"] = dataclasses.asdict(read_krb5_conf(path))
    elif fmt == "unknown":
        info["notes"].append(f"not a format this lab knows; the file starts with {data[:8].hex(' ')}")
    return info


def _declared_type(path: Path, real: str) -> str:
    return _DECLARED_BY_SUFFIX.get(path.suffix.lower(), real)


def _inspect_pkcs12(path: Path, data: bytes, password: str | None, info: dict[str, Any]) -> None:
    pfx = parse_pfx_file(data, path)
    info["pkcs12"] = {
        "mac": {"digest": pfx.mac.digest, "iterations": pfx.mac.iterations} if pfx.mac else None,
        "containers": [
            {
                "index": c.index,
                "encrypted": c.protection is not None,
                "protection": c.protection.description if c.protection else None,
                "iterations": c.protection.iterations if c.protection else None,
            }
            for c in pfx.containers
        ],
    }
    if not _pkcs12.verify_mac(pfx, password):
        if password is not None:
            read_pfx(path, password)  # raises WrongPasswordError with the tools' words
        info["password_needed"] = True
        info["notes"].append("the contents need the PFX's password (--password)")
        return
    contents = read_pfx(path, password)
    info["pkcs12"]["bags"] = [
        {
            "type": bag.bag_type,
            "friendly_name": bag.friendly_name,
            "local_key_id": bag.local_key_id.hex() if bag.local_key_id else None,
            "java_trusted": bag.trusted_key_usage is not None,
        }
        for container in pfx.containers
        for bag in _pkcs12.open_container(container, password)
    ]
    chain = contents.chain
    info["pfx"] = {
        "key_present": contents.private_key is not None,
        "key_encrypted": contents.key_encrypted,
        "friendly_name": contents.friendly_name,
        "encryption": contents.encryption,
        "key_protection": contents.key_protection,
        "certificate_protection": contents.certificate_protection,
        "chain": [describe_certificate(c) for c in chain],
        "other_certificates": [
            describe_certificate(c) for c in contents.additional_certificates if c not in chain
        ],
    }
    try:
        info["keystore"] = _keystore(read_keystore(path, password, _declared_type(path, "pkcs12")))
    except ArtifactError as exc:
        info["keystore"] = {"error": exc.message}


def _keystore(store: KeyStore) -> dict[str, Any]:
    return {
        "real_type": store.real_type,
        "declared_type": store.declared_type,
        "type_mismatch": store.type_mismatch,
        "entries": [
            {
                "alias": e.alias,
                "kind": e.kind,
                "private_key": e.private_key is not None,
                "certificates": [describe_certificate(c) for c in e.certificates],
            }
            for e in store.entries
        ],
        "notes": list(store.notes),
    }


def render_inspection(info: dict[str, Any]) -> str:
    """Human-readable text of :func:`inspect_file`'s result."""
    lines = [f"{info['file']}: {info['format_description']} ({info['format']}, {info['size']} bytes)"]
    if "certificate" in info:
        lines += _certificate_lines(info["certificate"], "  ")
    if "pkcs12" in info:
        p12 = info["pkcs12"]
        mac = p12["mac"]
        lines.append(f"  MAC: {mac['digest']}, {mac['iterations']} iterations" if mac else "  MAC: none")
        for container in p12["containers"]:
            what = container["protection"] or "not encrypted"
            lines.append(f"  container {container['index']}: {what}")
        for bag in p12.get("bags", []):
            name = f" friendlyName={bag['friendly_name']!r}" if bag["friendly_name"] else ""
            lines.append(f"    {bag['type']}{name}{' (Java trusted)' if bag['java_trusted'] else ''}")
    if "pfx" in info:
        pfx = info["pfx"]
        key = "encrypted" if pfx["key_encrypted"] else "NOT encrypted"
        lines.append(f"  private key: {key}" if pfx["key_present"] else "  private key: none")
        lines.append(f"  friendly name: {pfx['friendly_name']}")
        label = "certification path" if pfx["key_present"] else "certificates"
        lines.append(f"  {label} ({len(pfx['chain'])}):")
        for i, cert in enumerate(pfx["chain"]):
            lines.append(f"    [{i}] {cert['subject']}")
        for cert in pfx["other_certificates"]:
            lines.append(f"    (not in the path) {cert['subject']}")
    if "keystore" in info:
        lines += _keystore_lines(info["keystore"])
    if "krb5_conf" in info:
        for section, relations in info["krb5_conf"].items():
            if relations:
                lines.append(f"  [{section}] {relations}")
    lines += [f"  note: {note}" for note in info["notes"]]
    return "\n".join(lines)


def _certificate_lines(cert: dict[str, Any], indent: str) -> list[str]:
    lines = [
        f"{indent}Subject: {cert['subject']}",
        f"{indent}Issuer: {cert['issuer']}",
        f"{indent}Serial number: {cert['serial_number']}",
        f"{indent}Valid: {cert['not_before']} to {cert['not_after']}",
        f"{indent}Key: {cert['key']['type']} {cert['key']['size'] or ''}".rstrip(),
        f"{indent}Thumbprint (SHA-1): {cert['thumbprint_sha1']}",
        f"{indent}SHA-256: {cert['sha256']}",
    ]
    if cert["subject_alternative_names"]:
        lines.append(f"{indent}Subject alternative names: {', '.join(cert['subject_alternative_names'])}")
    if cert["extended_key_usages"] is not None:
        ekus = ", ".join(f"{e['name']} ({e['oid']})" for e in cert["extended_key_usages"])
        lines.append(f"{indent}Enhanced key usage: {ekus}")
    if cert["key_usage"] is not None:
        lines.append(f"{indent}Key usage: {', '.join(cert['key_usage'])}")
    if cert["basic_constraints"] is not None:
        lines.append(f"{indent}CA: {cert['basic_constraints']['ca']}")
    if cert["template"] is not None:
        lines.append(f"{indent}Certificate template: {cert['template']}")
    return lines


def _keystore_lines(store: dict[str, Any]) -> list[str]:
    if "error" in store:
        return [f"  Java: {store['error']}"]
    mismatch = " (type mismatch: Java loads it anyway)" if store["type_mismatch"] else ""
    lines = [
        f"  Java key store: real type {store['real_type']}, declared {store['declared_type']}{mismatch}",
        f"  Your keystore contains {len(store['entries'])} entr{'y' if len(store['entries']) == 1 else 'ies'}",
    ]
    for entry in store["entries"]:
        lines.append(f"    {entry['alias']}: {entry['kind']}, certificate chain length {len(entry['certificates'])}")
        for cert in entry["certificates"]:
            lines.append(f"      {cert['subject']}")
    lines += [f"  Java: {note}" for note in store["notes"]]
    return lines

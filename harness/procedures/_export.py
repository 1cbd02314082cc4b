"""The Certificate Export Wizard, shared by the three procedures that end in a .pfx.

The page walks the same wizard three times (Skype for Business shell, MMC/web
enrollment, Front End certificate): "Yes, export the private key", "Include all
certificates in the certification path if possible", do not "Delete Private key", a
password, a file name, "The export was successful".
"""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from fakes._files import write_public_file

from ..artifacts import ArtifactError, KeyNotExportableError, export_pfx, write_der_certificate
from ..hosts import CertificateStore, StoredCertificate
from ._framework import Done, StepContext, StepFailed


def save_certificate(path: Path, certificate: x509.Certificate, *, der: bool) -> str:
    """Save a certificate as "DER encoded binary X.509" or "Base-64 encoded X.509"; returns the format name."""
    if der:
        write_der_certificate(path, certificate)
        return "der-certificate"
    write_public_file(path, certificate.public_bytes(Encoding.PEM))
    return "pem-certificate"


def run_export_wizard(
    ctx: StepContext,
    *,
    store: CertificateStore,
    entry: StoredCertificate,
    heading: str,
    step: str,
    roles: tuple[str, ...],
    file_name: str,
    password: str | None,
    export_private_key: bool,
    include_chain: bool,
    delete_private_key: bool,
    encryption: str,
    fix_non_exportable: str,
) -> Done:
    """Export ``entry`` to ``file_name`` as the wizard does, recording it under ``roles``."""
    path = ctx.lab.artifacts_dir / file_name
    try:
        key = store.private_key(entry) if entry.has_private_key else None
        if export_private_key and key is None:
            raise StepFailed(
                "pfx-no-private-key",
                "You do not have a private key that corresponds to this certificate.",
                "Export from the store where the certificate was requested: only there does it have its private key.",
            )
        export_pfx(
            path,
            certificate=entry.certificate,
            private_key=key,
            # The path Windows builds: the issuing CA(s) up to the root.
            chain=list(ctx.lab.authority.chain) if include_chain else (),
            export_private_key=export_private_key,
            include_chain=include_chain,
            password=password,
            encryption=encryption,
            friendly_name=entry.friendly_name,
            key_exportable=entry.key_exportable,
        )
    except KeyNotExportableError as exc:
        raise StepFailed("key-not-exportable", str(exc), fix_non_exportable) from exc
    except ArtifactError as exc:
        fix = (
            "Choose AES256-SHA256 or TripleDES-SHA1 encryption in the wizard."
            if "encryption" in exc.message.lower()
            else "Export with the private key and a password, as the page says."
        )
        raise StepFailed("pfx-export-failed", str(exc), fix) from exc
    for role in roles:
        ctx.lab.manifest.add(role, path, format="pkcs12", password=password, doc_step=f"{heading}, step {step}")
    note = None
    if delete_private_key:
        store.delete_private_key(entry)
        note = "the private key was deleted from the store after the export (the page says not to)"
    ctx.state["export.last"] = path
    choices = [
        "Yes, export the private key" if export_private_key else "No, do not export the private key",
        "Include all certificates in the certification path if possible" if include_chain else "leaf certificate only",
        f"{encryption.upper()} encryption",
    ]
    return Done(
        f"exported '{entry.friendly_name or entry.subject_cn}' to {file_name} ({'; '.join(choices)})",
        artifacts=[(path, roles[0])],
        note=note,
    )

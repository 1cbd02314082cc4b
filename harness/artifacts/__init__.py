"""The page's files, written and read as the real tools write and read them.

- DER certificates ("DER encoded binary X.509 (.CER)"): :func:`write_der_certificate`,
  :func:`read_certificate` (DER or Base-64/PEM); throwaway CAs and host certificates:
  :func:`make_root_ca`, :func:`issue_certificate`.
- PFX files as the Windows Certificate Export Wizard writes them: :func:`export_pfx`,
  :func:`read_pfx`.
- Java key and trust stores as keytool writes them and Java 17 loads them:
  :func:`keytool_import`, :func:`read_keystore`.
- krb5.conf: :func:`page_krb5_conf`, :func:`format_krb5_conf`, :func:`parse_krb5_conf`,
  :func:`read_krb5_conf`, :func:`write_krb5_conf`.
- :func:`detect_format` (by content) and :func:`inspect_file` / :func:`render_inspection`
  for ``ucclab inspect``.

Secrets (PFX, key stores) are written with mode 0600, certificates and krb5.conf 0644.
Errors are :class:`ArtifactError` subclasses whose message names the file and carries the
real tool's words where it has some.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._certificates import issue_certificate, make_root_ca, read_certificate, write_der_certificate
    from ._errors import (
        AliasExistsError,
        ArtifactError,
        CorruptFileError,
        KeyNotExportableError,
        Krb5ConfSyntaxError,
        PasswordTooShortError,
        WrongFormatError,
        WrongPasswordError,
    )
    from ._formats import detect_format
    from ._inspect import inspect_file, render_inspection
    from ._keystore import CACERTS_PASSWORD, KeyStore, KeyStoreEntry, keytool_import, read_keystore
    from ._krb5 import Krb5Conf, format_krb5_conf, page_krb5_conf, parse_krb5_conf, read_krb5_conf, write_krb5_conf
    from ._pfx import PfxContents, export_pfx, read_pfx

__all__ = [
    "ArtifactError",
    "WrongPasswordError",
    "WrongFormatError",
    "CorruptFileError",
    "KeyNotExportableError",
    "AliasExistsError",
    "PasswordTooShortError",
    "Krb5ConfSyntaxError",
    "write_der_certificate",
    "read_certificate",
    "make_root_ca",
    "issue_certificate",
    "detect_format",
    "export_pfx",
    "PfxContents",
    "read_pfx",
    "keytool_import",
    "CACERTS_PASSWORD",
    "KeyStoreEntry",
    "KeyStore",
    "read_keystore",
    "Krb5Conf",
    "page_krb5_conf",
    "format_krb5_conf",
    "write_krb5_conf",
    "parse_krb5_conf",
    "read_krb5_conf",
    "inspect_file",
    "render_inspection",
]

# Where each name lives: a name is imported from its module when first used, so that a
# program that reads krb5.conf files does not load the key store readers (pyjks, pyasn1)
# or ``inspect``.
_MODULES = {
    "issue_certificate": "_certificates", "make_root_ca": "_certificates", "read_certificate": "_certificates",
    "write_der_certificate": "_certificates",
    "AliasExistsError": "_errors", "ArtifactError": "_errors", "CorruptFileError": "_errors",
    "KeyNotExportableError": "_errors", "Krb5ConfSyntaxError": "_errors", "PasswordTooShortError": "_errors",
    "WrongFormatError": "_errors", "WrongPasswordError": "_errors",
    "detect_format": "_formats",
    "inspect_file": "_inspect", "render_inspection": "_inspect",
    "CACERTS_PASSWORD": "_keystore", "KeyStore": "_keystore", "KeyStoreEntry": "_keystore",
    "keytool_import": "_keystore", "read_keystore": "_keystore",
    "Krb5Conf": "_krb5", "format_krb5_conf": "_krb5", "page_krb5_conf": "_krb5", "parse_krb5_conf": "_krb5",
    "read_krb5_conf": "_krb5", "write_krb5_conf": "_krb5",
    "PfxContents": "_pfx", "export_pfx": "_pfx", "read_pfx": "_pfx",
}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # found once, then a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

"""Shared helpers of the Front End and SIP tests: a throwaway PKI, MTLS clients, the
RFC 4475 corpus and its expected answers.

RSA key generation is the slow part (~50-100 ms a key), so the process makes two keys
(one CA, one for every leaf) and every module writes its own files from them.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import shutil
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fakes._files import write_private_file, write_public_file
from fakes.frontend import FrontendConfig
from fakes.sip import (
    NEED_DATA,
    ConnectionClosed,
    Malformed,
    MessageReceived,
    Request,
    Response,
    SipStream,
    make_request,
)
from tests.conftest import DATA

CORPUS = DATA / "rfc4475"
FE_FQDN = "fe01.companya.com"
UCC_FQDN = "ucc01.companya.com"
SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH
CLIENT_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH
NOW = datetime.datetime.now(datetime.timezone.utc)

# What each RFC 4475 message gets over a stream (status of the first answer; None:
# nothing is answered — a response is never answered), per the RFC's sections
# (tests/data/README.md). Where the RFC's datagram view cannot hold over a stream, the comment says why.
RFC4475_EXPECTED: dict[str, int | None] = {
    # 3.1.1 valid: answered normally
    "wsinv": 480, "intmeth": 501, "esc01": 480, "escnull": 200, "esc02": 501, "lwsdisp": 200,
    "longreq": 480, "dblreq": 200, "semiuri": 200, "transports": 200, "mpart01": 480,
    "unreason": None, "noreason": None,
    # 3.1.2 invalid: 400, or the status the RFC names
    "badinv01": 400, "ncl": 400, "scalar02": 400, "scalarlg": None, "quotbal": 400,
    "ltgtruri": 400, "lwsruri": 400, "lwsstart": 400, "trws": 400, "escruri": 400,
    "baddate": 400, "regbadct": 400, "badaspec": 400, "baddn": 400, "badvers": 505,
    "mismatch01": 400, "mismatch02": 400, "bigcode": None,
    # clerr: its Content-Length exceeds what is sent; over a stream only the read timeout
    # ends it, and the stalled message is then answered 400.
    "clerr": 400,
    # 3.2 and 3.3: the specific error the RFC names
    "badbranch": 200, "insuf": 400, "unkscm": 416, "novelsc": 416, "unksm2": 416,
    "bext01": 420, "invut": 415, "regaut01": 200, "multi01": 400, "mcl01": 400,
    "bcast": None, "zeromf": 483, "cparam01": 200, "cparam02": 200, "regescrt": 200,
    "sdp01": 406,
    # 3.4: RFC 2543 allowed no Content-Length; over a stream (RFC 3261 §18.3) the body
    # cannot be delimited, so it is answered 400 and the connection closed.
    "inv2543": 400,
}
# Messages after which the stream has lost its framing and the connection is closed
# (dblreq: the glued INVITE's body is two bytes longer than its Content-Length, and the
# leftover "C\r\n\r\n" is no message).
RFC4475_FATAL = {"ncl", "mcl01", "inv2543", "clerr", "dblreq"}


@functools.cache
def rsa_key(role: str) -> rsa.RSAPrivateKey:
    """One 2048-bit key per role ("ca", "leaf"), made once per process."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@dataclass(frozen=True)
class Credential:
    """A certificate (PEM file: leaf then chain) and its key (PEM file, 0600)."""

    certificate: x509.Certificate
    cert_path: Path
    key_path: Path


class LabPki:
    """A lab CA (``CN=companya-LABDC01-CA``) issuing leaf certificates into ``directory``."""

    def __init__(self, directory: Path, *, name: str = "companya-LABDC01-CA") -> None:
        self.directory = directory
        self.key = rsa_key("ca")
        subject = x509.Name([x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "com"),
                             x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "companya"),
                             x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.certificate = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(NOW - datetime.timedelta(days=1))
            .not_valid_after(NOW + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                           critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256()))
        self.ca_path = write_public_file(directory / "ca.pem", self.pem())

    def pem(self) -> bytes:
        """The CA certificate, PEM."""
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def crl(self, revoked: Sequence[int] = (), *, this_update: datetime.datetime | None = None,
            next_update: datetime.datetime | None = None) -> bytes:
        """A DER CRL of this CA revoking ``revoked`` serials (key compromise), valid from an
        hour ago for a week unless told otherwise."""
        builder = (x509.CertificateRevocationListBuilder().issuer_name(self.certificate.subject)
                   .last_update(this_update or NOW - datetime.timedelta(hours=1))
                   .next_update(next_update or NOW + datetime.timedelta(days=7)))
        for serial in revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial)
                .revocation_date(NOW - datetime.timedelta(minutes=30))
                .add_extension(x509.CRLReason(x509.ReasonFlags.key_compromise), critical=False).build())
        return builder.sign(self.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)

    def issue(self, name: str, *, cn: str | None = None, dns: Sequence[str] = (),
              eku: Sequence[x509.ObjectIdentifier] | None = (SERVER_AUTH, CLIENT_AUTH),
              not_before: datetime.datetime | None = None,
              not_after: datetime.datetime | None = None,
              cdp: Sequence[str] = ()) -> Credential:
        """A leaf certificate; ``eku=None`` leaves the extension out; ``cdp`` are the URLs
        of its CRL distribution point."""
        key = rsa_key("leaf")
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn else [])
        builder = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(self.certificate.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(not_before or NOW - datetime.timedelta(hours=1))
            .not_valid_after(not_after or NOW + datetime.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                           critical=False))
        if dns:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(d) for d in dns]), critical=False)
        if eku is not None:
            builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
        if cdp:
            builder = builder.add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
                [x509.UniformResourceIdentifier(url) for url in cdp], None, None, None)]), critical=False)
        certificate = builder.sign(self.key, hashes.SHA256())
        cert_path = write_public_file(self.directory / f"{name}.pem",
                                      certificate.public_bytes(serialization.Encoding.PEM) + self.pem())
        key_path = write_private_file(self.directory / f"{name}.key", _pem(key))
        return Credential(certificate, cert_path, key_path)


def frontend_config(pki: LabPki, frontend: Credential, **changes: object) -> FrontendConfig:
    """The lab's Front End configuration (known peer: the UCC host), with changes."""
    settings: dict[str, object] = {
        "fqdn": FE_FQDN, "certificate_chain": frontend.cert_path,
        "private_key": frontend.key_path, "trusted_cas": pki.ca_path,
        "known_peers": (UCC_FQDN,),
    }
    settings.update(changes)
    return FrontendConfig(**settings)  # type: ignore[arg-type]


def client_context(pki_ca: Path, client: Credential | None, *,
                   maximum: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    """A TLS client context trusting ``pki_ca`` that presents ``client`` (if any)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cafile=str(pki_ca))
    if client is not None:
        context.load_cert_chain(str(client.cert_path), str(client.key_path))
    if maximum is not None:
        context.maximum_version = maximum
        context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        context.set_ciphers("DEFAULT:@SECLEVEL=0")  # let the client offer TLS 1.0/1.1 at all
    return context


def options_request(cseq: int = 1, *, call_id: str = "opt-1@ucc01.companya.com") -> bytes:
    """An OPTIONS from the UCC host to the Front End."""
    return make_request("OPTIONS", f"sip:{FE_FQDN}:5061;transport=tls",
                        via=f"SIP/2.0/TLS {UCC_FQDN}:5061", branch=f"z9hG4bK-opt-{cseq}",
                        from_uri=f"sip:{UCC_FQDN}", from_tag="ucc-tag", to_uri=f"sip:{FE_FQDN}",
                        call_id=call_id, cseq=cseq)


@dataclass(frozen=True)
class Received:
    """A SIP message as the test client got it: its bytes, and its parsed form unless our
    strict parser refuses it (an answer to a malformed request mirrors malformed headers)."""

    raw: bytes
    message: Request | Response | None

    @property
    def status(self) -> int | None:
        """The status code of a response (from the start line), None for a request."""
        start = self.raw.split(b"\r\n", 1)[0].split(b" ", 2)
        return int(start[1]) if start[0] == b"SIP/2.0" else None


async def read_message(reader: asyncio.StreamReader, stream: SipStream, *,
                       timeout: float = 5.0) -> Received | None:
    """The next SIP message from ``reader`` (None if the connection ends first)."""

    async def next_message() -> Received | None:
        while True:
            event = stream.next_event()
            if event is NEED_DATA:
                stream.receive_data(await reader.read(65536))
            elif isinstance(event, MessageReceived):
                return Received(event.raw, event.message)
            elif isinstance(event, Malformed) and not event.fatal:
                return Received(event.raw, None)
            elif isinstance(event, ConnectionClosed):
                return None

    return await asyncio.wait_for(next_message(), timeout)


async def mtls_exchange(port: int, client: ssl.SSLContext, data: bytes, *,
                        answers: int = 1, timeout: float = 5.0) -> list[Received]:
    """Connect to the Front End on ``port`` with MTLS, send ``data``, read up to
    ``answers`` messages, close."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(
        "127.0.0.1", port, ssl=client, server_hostname=FE_FQDN), timeout)
    try:
        writer.write(data)
        await writer.drain()
        stream = SipStream()
        received = []
        for _ in range(answers):
            message = await read_message(reader, stream, timeout=timeout)
            if message is None:
                break
            received.append(message)
        return received
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (OSError, ssl.SSLError):
            pass


# -- OpenSSL's own client ----------------------------------------------------------------------

OPENSSL = shutil.which("openssl")
# Skips on a developer's machine without it; in CI (UCCLAB_REQUIRE_TOOLS=1) tests/conftest.py
# refuses to start without openssl, so nothing skips there.
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="openssl is not installed")


async def s_client(port: int, *args: str, data: bytes = b"",
                   until: bytes | Callable[[bytes], bool] | None = None,
                   timeout: float = 10.0) -> tuple[bytes, bytes]:
    """Run ``openssl s_client`` against 127.0.0.1:``port``; feed ``data``; read stdout until
    ``until`` (bytes that appear, or a test of what was read) holds, then stop it, or until it
    exits. What it printed, and its errors."""
    assert OPENSSL is not None
    done = until if callable(until) or until is None else (lambda output: until in output)
    process = await asyncio.create_subprocess_exec(
        OPENSSL, "s_client", "-connect", f"127.0.0.1:{port}", *args,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert process.stdin is not None and process.stdout is not None and process.stderr is not None
    process.stdin.write(data)
    await process.stdin.drain()
    output = b""
    try:
        async with asyncio.timeout(timeout):
            while done is None or not done(output):
                chunk = await process.stdout.read(65536)
                if not chunk:
                    break
                output += chunk
    finally:
        if process.returncode is None:
            process.kill()
        errors = await process.stderr.read()
        await process.wait()
    return output, errors


# -- fixtures (registered for every test by tests/conftest.py) ------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> LabPki:
    """A lab CA of the test module's own."""
    return LabPki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def fe(pki: LabPki) -> Credential:
    """fe01's certificate from :func:`pki`."""
    return pki.issue("fe01", cn=FE_FQDN, dns=[FE_FQDN])


@pytest.fixture(scope="module")
def ucc(pki: LabPki) -> Credential:
    """ucc01's certificate from :func:`pki`."""
    return pki.issue("ucc01", cn=UCC_FQDN, dns=[UCC_FQDN])

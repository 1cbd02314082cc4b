"""The Java probe over real sockets: the JDK's JSSE as the UC Connector, against the lab's Front End.

Verdicts come from the server side: the Front End's event log when the probe connects to
it, the probe's own ``listen`` report when the Front End pushes to the probe. Java's error
texts are asserted as the JDK prints them (OpenJDK 17).
"""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

from fakes.configserver import CfgApplication
from harness import javaprobe
from harness.artifacts import (
    detect_format,
    export_pfx,
    keytool_import,
    read_certificate,
    read_pfx,
)
from harness.javaprobe import (
    JavaUnavailableError,
    ProbeResult,
    ProbeUsageError,
    ensure_compiled,
    probe_register,
    run_probe,
    start_probe_listener,
)
from harness.lab import Lab, Topology
from harness.pytest_plugin import LabThread
from tests.conftest import require_tool

FE = "fe01.companya.com"
UCC = "ucc01.companya.com"
PFX = "GenesysServer_Certficate.pfx"
STORE = "UCC_store.jks"
PKIX = (
    "PKIX path building failed: sun.security.provider.certpath.SunCertPathBuilderException: "
    "unable to find valid certification path to requested target"
)
DEFAULT_SSL_CONTEXT = (
    "Error constructing implementation (algorithm: Default, provider: SunJSSE, "
    "class: sun.security.ssl.SSLContextImpl$DefaultSSLContext)"
)


@dataclass
class MtlsLab:
    """A lab after the page's MTLS procedures: the Application object's arguments and the files."""

    thread: LabThread
    arguments: str

    @property
    def lab(self) -> Lab:
        return self.thread.lab

    @property
    def files(self) -> Path:
        return self.lab.artifacts_dir

    @property
    def frontend_events(self) -> list[dict[str, Any]]:
        assert self.lab.frontend is not None
        return list(self.lab.frontend.events)


async def _application(lab: Lab) -> CfgApplication:
    async with lab.configserver_client() as cfg:
        app = await cfg.find_application(lab.topology.application_name)
    assert app is not None
    return app


def _replayed(thread: LabThread) -> MtlsLab:
    result = thread.replay("mtls")
    assert result.handshakes, result.diagnoses
    return MtlsLab(thread, thread.run(_application(thread.lab)).command_line_arguments)


@pytest.fixture(scope="module")
def mtls(tmp_path_factory: pytest.TempPathFactory, ucclab_ca_seed: Path) -> Iterator[MtlsLab]:
    """One lab for the module, replayed through the MTLS path (tests only read its files)."""
    thread = LabThread(tmp_path_factory.mktemp("javaprobe-lab"), ca_seed=ucclab_ca_seed).start()
    try:
        yield _replayed(thread)
    finally:
        thread.stop()


def register(mtls: MtlsLab, java_cache: Path, arguments: str | None = None,
             files: Path | None = None, *, frontend_fqdn: str = FE,
             endpoint_identification: str | None = None) -> tuple[ProbeResult, list[dict[str, Any]]]:
    """Run ``register`` against the lab's Front End; the report and what the Front End logged meanwhile."""
    frontend = mtls.lab.frontend
    assert frontend is not None
    mark = len(frontend.events)
    result = mtls.thread.run(probe_register(
        frontend=("127.0.0.1", frontend.port), frontend_fqdn=frontend_fqdn, ucc_fqdn=UCC,
        arguments=arguments if arguments is not None else mtls.arguments,
        files=files if files is not None else mtls.files, cache_dir=java_cache,
        endpoint_identification=endpoint_identification))
    return result, [e for e in list(frontend.events)[mark:] if e.get("connection") is not None]


def _of_type(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == kind]


def _assert_untrusted_without_certificate(result: ProbeResult, seen: list[dict[str, Any]]) -> None:
    """Java sent no client certificate: the Front End finished TLS with no peer certificate,
    so the connector is not a trusted server, and its OPTIONS was challenged (MS-SIPAE)."""
    assert result.json["tls"]["local_certificate"] is None
    assert [h["peer"] for h in _of_type(seen, "tls-handshake")] == [None]
    assert [r["status"] for r in _of_type(seen, "response")][:1] == [401]
    assert _of_type(seen, "sipae-challenge")
    assert result.outcome == "rejected"


def _copy_files(mtls: MtlsLab, folder: Path) -> Path:
    """The lab's files in a folder of the test's own, to change one of them."""
    folder.mkdir()
    for name in (PFX, STORE):
        shutil.copy2(mtls.files / name, folder / name)
    return folder


# -- compiling and running ---------------------------------------------------------------------


_RACE = """
import sys
from pathlib import Path
from harness.javaprobe import ensure_compiled
print(ensure_compiled(Path(sys.argv[1])))
"""


def test_compiled_once_per_source_version_even_when_processes_race(tmp_path: Path, java_cache: Path) -> None:
    root = tmp_path / "cache"
    racers = [subprocess.Popen([sys.executable, "-c", _RACE, str(root)], stdout=subprocess.PIPE, text=True)
              for _ in range(2)]
    found: list[Path] = []
    threads = [threading.Thread(target=lambda: found.append(ensure_compiled(root))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    found += [Path(p.communicate(timeout=120)[0].strip()) for p in racers]
    assert all(p.returncode == 0 for p in racers)
    assert len(set(found)) == 1
    assert [entry.name for entry in root.iterdir()] == [f"java-{javaprobe.source_digest()}"]
    assert (found[0] / "UccProbe.class").is_file()
    assert ensure_compiled(root) == found[0]


def test_a_kind_of_run_leaves_an_archive_that_its_next_runs_map(tmp_path: Path, java_cache: Path) -> None:
    root = tmp_path / "cache"
    first = asyncio.run(run_probe(["security"], timeout=60, cache_dir=root))
    folder = ensure_compiled(root)
    archives = list(folder.glob("*.jsa"))
    assert [a.name.split("-")[0] for a in archives] == ["security"]
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".")]  # nothing half-written left
    second = asyncio.run(run_probe(["security"], timeout=60, cache_dir=root))
    assert {**second.json, "timings_ms": None} == {**first.json, "timings_ms": None}
    # The probe's own classes come from it: the "top" (dynamic) archive, in the JVM's words.
    loaded = subprocess.run([require_tool("java"), *javaprobe.JVM_OPTIONS, f"-XX:SharedArchiveFile={archives[0]}",
                             "-Xlog:class+load=info", "-cp", str(folder / javaprobe.JAR_NAME), "UccProbe", "security"],
                            capture_output=True, text=True, timeout=60, check=True)
    assert "[class,load] UccProbe source: shared objects file (top)" in loaded.stdout


def test_an_archive_is_kept_only_whole_and_from_a_run_that_ended(tmp_path: Path, java_cache: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """JDK 17 dies of SIGBUS when it maps a truncated archive (and leaves an hs_err file in
    the folder it ran in): such an archive, or one from a killed run, is dropped."""
    monkeypatch.chdir(tmp_path)
    folder = ensure_compiled(tmp_path / "cache")
    java = require_tool("java")

    def first_run() -> javaprobe._ClassArchive:
        archive = javaprobe._ClassArchive(java, folder, "security")
        assert archive.writing is not None
        subprocess.run([java, *javaprobe.JVM_OPTIONS, *archive.options, "-cp", str(folder / javaprobe.JAR_NAME),
                        "UccProbe", "security"], capture_output=True, timeout=60, check=True)
        return archive

    truncated = first_run()
    assert truncated.writing is not None
    whole = truncated.writing.read_bytes()
    truncated.writing.write_bytes(whole[:len(whole) // 2])
    truncated.keep(0)
    killed = first_run()
    killed.keep(-9)
    assert not truncated.path.exists()
    assert list(folder.glob("*.jsa")) == [] and not [p for p in folder.iterdir() if p.name.startswith(".")]
    assert list(tmp_path.glob("hs_err*")) == []
    whole_run = first_run()
    whole_run.keep(0)
    assert whole_run.path.is_file()


def test_bad_usage_is_the_callers_error(java_cache: Path) -> None:
    with pytest.raises(ProbeUsageError, match="register needs --frontend"):
        asyncio.run(run_probe(["register", "--args", ""], timeout=30, cache_dir=java_cache))
    with pytest.raises(ProbeUsageError, match="unknown command nosuch"):
        asyncio.run(run_probe(["nosuch"], timeout=30, cache_dir=java_cache))
    with pytest.raises(ProbeUsageError, match="listen does not take --principal"):
        asyncio.run(run_probe(["listen", "--principal", "x"], timeout=30, cache_dir=java_cache))
    with pytest.raises(ProbeUsageError, match="--endpoint-identification must be HTTPS or none, not LDAPS"):
        asyncio.run(run_probe(["register", "--frontend", "127.0.0.1:9", "--frontend-fqdn", FE, "--ucc-fqdn", UCC,
                               "--args", "", "--endpoint-identification", "LDAPS"], timeout=30, cache_dir=java_cache))


def test_without_a_jdk_the_error_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-jdk"))
    assert not javaprobe.java_available()
    with pytest.raises(JavaUnavailableError, match="javac is not installed: install a JDK 17"):
        ensure_compiled(tmp_path / "cache")


# -- the command line, as Java reads it --------------------------------------------------------


def _read(arguments: str, java_cache: Path, files: Path | None = None) -> dict[str, Any]:
    command = ["arguments", "--args", arguments] + (["--files", str(files)] if files else [])
    return asyncio.run(run_probe(command, timeout=30, cache_dir=java_cache)).json


def test_the_pages_typos_are_options_java_does_not_know(java_cache: Path) -> None:
    report = _read(
        r"-cert_store_C:\GCTI\lync.pfx -cert_store_pass mnopqr -cert_store_type pkcs12 "
        r"-key_store_file C:\GCTI\UCC_store.jks -key_store_pass genesys -ket_store_type jks", java_cache)
    arguments = report["arguments"]
    # -cert_store_<path>: no key store at all; -ket_store_type: the trust store keeps Java's default type.
    assert arguments["ignored"] == [[r"-cert_store_C:\GCTI\lync.pfx", None], ["-ket_store_type", "jks"]]
    assert arguments["options"] == {"-cert_store_pass": "********", "-cert_store_type": "pkcs12",
                                    "-key_store_file": r"C:\GCTI\UCC_store.jks", "-key_store_pass": "********"}
    assert "javax.net.ssl.keyStore" not in report["jsse"]["mtls"]
    assert "javax.net.ssl.trustStoreType" not in report["jsse"]["mtls"]


def test_windows_quoting_placeholders_and_stray_words(java_cache: Path, tmp_path: Path) -> None:
    report = _read(
        '-cert_store_file "C:\\Program Files\\GCTI\\x y.pfx" -cert_store_pass my secret '
        "-key_store_file <path to the Java keystore file> -krb_conf_file", java_cache, tmp_path)
    arguments = report["arguments"]
    assert arguments["options"]["-cert_store_file"] == r"C:\Program Files\GCTI\x y.pfx"
    # A plain Java parser takes a placeholder as the value: Java then looks for a file "<path".
    assert arguments["options"]["-key_store_file"] == "<path"
    # The unquoted password's tail is a stray word, masked; the placeholder's rest is stray too.
    assert arguments["stray"] == ["********", "to", "the", "Java", "keystore", "file>"]
    assert arguments["missing_value"] == ["-krb_conf_file"]
    assert report["files"][0] == {"option": "-cert_store_file", "given": r"C:\Program Files\GCTI\x y.pfx",
                                  "local": str(tmp_path / "x y.pfx"), "exists": False}
    assert report["jsse"]["mtls"]["javax.net.ssl.keyStorePassword"] == "********"
    # -krb_conf_file without its value: the JDK looks where Windows' JDK would (C:\Windows\krb5.ini,
    # on the connector's host), never at this machine's own krb5.conf.
    assert report["jsse"]["tls-kerberos"] == {"javax.net.ssl.trustStore": str(tmp_path / "x y.pfx"),
                                              "javax.net.ssl.trustStorePassword": "********",
                                              "java.security.krb5.conf": str(tmp_path / "krb5.ini")}


# -- connector -> Front End --------------------------------------------------------------------


def test_register_confirmed_by_the_front_ends_log(mtls: MtlsLab, java_cache: Path) -> None:
    result, seen = register(mtls, java_cache)
    assert result.outcome == "confirmed", result.error
    assert result.json["responses"] == [{"method": "OPTIONS", "status": 200, "reason": "OK"},
                                        {"method": "REGISTER", "status": 200, "reason": "OK"}]
    # The evidence: the Front End saw Java's client certificate and answered REGISTER 200.
    [handshake] = _of_type(seen, "tls-handshake")
    assert handshake["peer"]["subject"] == "CN=ucc01.companya.com"
    assert result.json["tls"]["local_certificate"]["serial_number"] == handshake["peer"]["serial"]
    assert _of_type(seen, "peer-trusted")[0]["peer"] == UCC
    assert [(e["method"], e["status"]) for e in _of_type(seen, "response")] == [("OPTIONS", 200), ("REGISTER", 200)]
    # What Java saw of the Front End, checked against fe01's name.
    tls = result.json["tls"]
    assert tls["version"] in ("TLSv1.2", "TLSv1.3")
    assert tls["peer_certificate"]["subject"] == "CN=fe01.companya.com"
    assert tls["peer_chain"][-1].startswith("CN=companya-LABDC01-CA")


def test_endpoint_identification_is_off_unless_asked_for(mtls: MtlsLab, java_cache: Path) -> None:
    """The connector dialling the Front End by a name its certificate does not carry: a plain
    SSLSocket takes it (research-12 §8d); with HTTPS endpoint identification Java refuses it."""
    result, seen = register(mtls, java_cache, frontend_fqdn="fe02.companya.com")
    assert result.outcome == "confirmed", result.error
    assert result.json["java_security"]["jdk.tls.disabledAlgorithms"].startswith("SSLv3, TLSv1, TLSv1.1")
    result, seen = register(mtls, java_cache, frontend_fqdn="fe02.companya.com", endpoint_identification="HTTPS")
    assert result.error["message"] == "No subject alternative DNS name matching fe02.companya.com found."
    assert result.error["causes"][0]["exception"] == "java.security.cert.CertificateException"
    [failure] = _of_type(seen, "tls-failure")
    assert failure["alert_received"] == "certificate_unknown"


def test_a_jks_that_is_really_pkcs12_loads_as_jks(mtls: MtlsLab, java_cache: Path, tmp_path: Path) -> None:
    """keytool on JDK 9+ writes PKCS12 whatever the file is called; Java 17 still loads it as 'jks'.
    A real JKS (``-storetype jks``) works the same."""
    assert detect_format(mtls.files / STORE) == "pkcs12"
    files = _copy_files(mtls, tmp_path / "jks")
    real_jks = files / STORE
    real_jks.unlink()
    ca = read_certificate(mtls.files / "CompanyA_Certificate.cer")
    keytool_import(real_jks, alias="ucc-cert", certificate=ca, password="genesys", storetype="jks")
    assert detect_format(real_jks) == "jks"
    for folder in (mtls.files, files):
        result, seen = register(mtls, java_cache, files=folder)
        assert result.outcome == "confirmed", result.error
        assert _of_type(seen, "response")[-1]["status"] == 200


def test_wrong_key_store_password(mtls: MtlsLab, java_cache: Path) -> None:
    result, seen = register(mtls, java_cache, mtls.arguments.replace("-cert_store_pass mnopqr", "-cert_store_pass x"))
    # Through SSLContext.getDefault() JSSE keeps only the message of the store's IOException.
    assert result.error == {"phase": "setup", "exception": "java.security.NoSuchAlgorithmException",
                            "message": DEFAULT_SSL_CONTEXT,
                            "causes": [{"exception": "java.security.KeyManagementException",
                                        "message": "keystore password was incorrect"}]}
    assert seen == []  # Java never connects


def test_wrong_trust_store_password(mtls: MtlsLab, java_cache: Path) -> None:
    result, seen = register(mtls, java_cache, mtls.arguments.replace("-key_store_pass genesys", "-key_store_pass x"))
    assert result.error is not None and result.error["phase"] == "setup"
    assert result.error["causes"] == [{"exception": "java.security.KeyManagementException",
                                       "message": "problem accessing trust store"}]
    assert seen == []


def test_trust_store_without_the_lab_ca(mtls: MtlsLab, java_cache: Path, tmp_path: Path) -> None:
    files = _copy_files(mtls, tmp_path / "foreign")
    (files / STORE).unlink()
    foreign = x509.load_pem_x509_certificate(trustme.CA().cert_pem.bytes())
    keytool_import(files / STORE, alias="other-ca", certificate=foreign, password="genesys")
    result, seen = register(mtls, java_cache, files=files)
    assert result.error is not None
    assert (result.error["phase"], result.error["exception"], result.error["message"]) == (
        "handshake", "javax.net.ssl.SSLHandshakeException", PKIX)
    assert not _of_type(seen, "tls-handshake")


def test_no_trust_store_falls_back_to_the_jdks_cacerts(mtls: MtlsLab, java_cache: Path) -> None:
    """Without -key_store_* JSSE searches jssecacerts, then cacerts of the JDK that runs it:
    the system CAs, not the lab's."""
    arguments = mtls.arguments.split(" -key_store_file")[0]
    result, _ = register(mtls, java_cache, arguments)
    assert "javax.net.ssl.trustStore" not in result.json["jsse"]
    assert result.error is not None and result.error["message"] == PKIX


@pytest.mark.parametrize("password", ["mnopqr", None])
def test_unencrypted_pfx(mtls: MtlsLab, java_cache: Path, tmp_path: Path, password: str | None) -> None:
    """Exported without a password: read with one, the MAC does not verify; read without, Java
    skips the unencrypted key and has no client certificate: not a trusted server for the Front End."""
    files = _copy_files(mtls, tmp_path / "plain")
    contents = read_pfx(files / PFX, "mnopqr")
    assert contents.certificate is not None
    export_pfx(files / PFX, certificate=contents.certificate, private_key=contents.private_key,
               chain=contents.additional_certificates, password=None)
    arguments = mtls.arguments
    if password is None:
        arguments = arguments.replace("-cert_store_pass mnopqr ", "")
    result, seen = register(mtls, java_cache, arguments, files)
    if password is not None:
        assert result.error is not None
        assert result.error["causes"] == [{
            "exception": "java.security.KeyManagementException",
            "message": "Integrity check failed: java.security.UnrecoverableKeyException: Failed PKCS12 integrity checking"}]
        assert seen == []
    else:
        _assert_untrusted_without_certificate(result, seen)


def test_pfx_without_private_key_sends_no_certificate(mtls: MtlsLab, java_cache: Path, tmp_path: Path) -> None:
    files = _copy_files(mtls, tmp_path / "nokey")
    contents = read_pfx(files / PFX, "mnopqr")
    (files / PFX).write_bytes(pkcs12.serialize_key_and_certificates(
        None, None, contents.certificate, contents.additional_certificates,
        BestAvailableEncryption(b"mnopqr")))
    result, seen = register(mtls, java_cache, files=files)
    _assert_untrusted_without_certificate(result, seen)


def test_the_pages_glued_cert_store_option_leaves_java_without_its_pfx(mtls: MtlsLab, java_cache: Path) -> None:
    arguments = mtls.arguments.replace("-cert_store_file ", "-cert_store_")
    result, seen = register(mtls, java_cache, arguments)
    assert result.json["arguments"]["ignored"][0][0].startswith("-cert_store_C:")
    _assert_untrusted_without_certificate(result, seen)


# -- Front End -> connector: the probe's Secured port ------------------------------------------


async def _pushed(mtls: MtlsLab, java_cache: Path, arguments: str | None = None) -> tuple[ProbeResult, Any]:
    frontend = mtls.lab.frontend
    assert frontend is not None
    async with await start_probe_listener(ucc_fqdn=UCC, arguments=arguments or mtls.arguments, files=mtls.files,
                                          timeout=20, cache_dir=java_cache) as listener:
        assert listener.port is not None
        push = await frontend.push_to_connector("127.0.0.1", listener.port, server_name=UCC)
        return await listener.result(), push


def test_listen_answers_the_front_ends_push(mtls: MtlsLab, java_cache: Path) -> None:
    report, push = mtls.thread.run(_pushed(mtls, java_cache))
    assert push.ok and push.statuses == (("OPTIONS", 200, "OK"), ("NOTIFY", 200, "OK"))
    assert report.outcome == "confirmed", report.json
    [connection] = report.json["connections"]
    assert connection["tls"]["peer_certificate"]["subject"] == "CN=fe01.companya.com"
    assert connection["tls"]["peer_certificate"]["eku"] is not None
    assert connection["requests"] == [{"method": "OPTIONS", "status": 200}, {"method": "NOTIFY", "status": 200}]
    assert connection["end"] == "peer closed"


def test_listen_refuses_a_server_auth_only_front_end_certificate(
        ucclab_lab_factory: Any, java_cache: Path) -> None:
    """A Lync default certificate ("Web Server" template) has serverAuth only: Java, as TLS
    server, refuses it as a client certificate — a real-world trap of the push direction."""
    web_server = _replayed(ucclab_lab_factory(topology=Topology(frontend_template="WebServer")))
    report, push = web_server.thread.run(_pushed(web_server, java_cache))
    assert not push.ok
    assert report.outcome == "rejected"
    [connection] = report.json["connections"]
    assert connection["error"]["message"] == "Extended key usage does not permit use for TLS client authentication"
    assert connection["error"]["exception"] == "javax.net.ssl.SSLHandshakeException"


def test_listen_refuses_a_client_without_certificate(mtls: MtlsLab, java_cache: Path) -> None:
    async def scenario() -> ProbeResult:
        async with await start_probe_listener(ucc_fqdn=UCC, arguments=mtls.arguments, files=mtls.files,
                                              timeout=20, cache_dir=java_cache) as listener:
            assert listener.port is not None
            context = ssl.create_default_context(cafile=str(mtls.lab.ca_root_pem_path))
            with pytest.raises((ssl.SSLError, ConnectionError)):
                reader, _writer = await asyncio.open_connection("127.0.0.1", listener.port, ssl=context,
                                                                server_hostname=UCC)
                await reader.read(100)  # TLS 1.3: the server's verdict arrives after the client's handshake
            return await listener.result()

    report = mtls.thread.run(scenario())
    [connection] = report.json["connections"]
    assert connection["error"]["message"] == "Empty client certificate chain"


def test_listen_reports_why_it_could_not_listen_or_was_not_called(mtls: MtlsLab, java_cache: Path) -> None:
    async def scenario(arguments: str, timeout: float) -> tuple[int | None, ProbeResult]:
        async with await start_probe_listener(ucc_fqdn=UCC, arguments=arguments, files=mtls.files,
                                              timeout=timeout, cache_dir=java_cache) as listener:
            return listener.port, await listener.result()

    port, broken = mtls.thread.run(scenario(mtls.arguments.replace("-cert_store_pass mnopqr", "-cert_store_pass x"), 20))
    assert port is None and broken.error is not None and broken.error["phase"] == "setup"
    port, idle = mtls.thread.run(scenario(mtls.arguments, 1))
    assert port is not None and idle.json["connections"] == []
    assert idle.error is not None
    assert (idle.error["phase"], idle.error["exception"], idle.error["message"]) == (
        "accept", "java.net.SocketTimeoutException", "Accept timed out")

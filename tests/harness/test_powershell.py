"""``ucclab host``: PowerShell lines on the lab's Windows hosts, parsed and bound as PowerShell
does, run against a lab in a process of its own (``ucclab up --blank``)."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding

from harness.artifacts import read_certificate, read_pfx
from harness.attach import AttachedLab
from harness.powershell import ParseError, Unsupported, parse_line
from harness.powershell._runtime import Evaluator, format_parse_error
from harness.powershell._syntax import Assignment, Command, Parameter, Pipeline, ScriptBlock, Text, Variable
from tests.conftest import require_tool
from tests.harness.running_lab import fingerprint, host, running_lab, ucclab

CA = "labdc01.companya.com\\companya-LABDC01-CA"
ETC = "C:\\GCTI\\UCConnector\\UCC_Lync\\etc"
PASSWORD = '(ConvertTo-SecureString "mnopqr" -AsPlainText -Force)'
REQUEST = (f'Request-CsCertificate -New -Type Default -FriendlyName "GenesysServerCertificate" -CA "{CA}" '
           "-ComputerFQDN ucc01.companya.com -PrivateKeyExportable $true -Verbose")
NOT_RECOGNIZED = ("is not recognized as the name of a cmdlet, function, script file, or operable program. Check the "
                  "spelling of the name, or if a path was included, verify that the path is correct and try again.")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with running_lab(tmp_path_factory.mktemp("powershell") / "lab", "--blank") as workdir:
        yield workdir


def evaluate(line: str) -> list[object]:
    """A line of expressions alone (no command is known)."""
    return asyncio.run(Evaluator(line, lambda name: None).run(parse_line(line)))


def account(workdir: Path, name: str) -> dict:
    async def read() -> dict:
        async with AttachedLab(workdir) as attached:
            assert attached.domain is not None
            return await attached.domain.account(name)

    return asyncio.run(read())


# -- the parser and the operators, alone ------------------------------------------------------


def test_a_line_is_statements_of_pipelines_with_parameters_and_arguments() -> None:
    (assign, show) = parse_line('$c = Get-ChildItem Cert:\\LocalMachine\\My | Where-Object { $_.Subject -like "*ucc01*" };'
                                ' Export-PfxCertificate -Cert $c -FilePath:C:\\x.pfx -Force')
    assert isinstance(assign, Assignment) and assign.variable == "c"
    gci, where = assign.value.elements
    assert isinstance(gci, Command) and gci.name == "Get-ChildItem" and gci.elements == (Text("Cert:\\LocalMachine\\My", 19),)
    assert isinstance(where, Command) and isinstance(where.elements[0], ScriptBlock)
    assert isinstance(show, Pipeline)
    export = show.elements[0]
    assert isinstance(export, Command)
    cert, filepath, force = export.elements[0], export.elements[2], export.elements[3]
    assert isinstance(cert, Parameter) and cert.name == "Cert" and not cert.colon
    assert isinstance(export.elements[1], Variable)
    assert isinstance(filepath, Parameter) and filepath.colon and filepath.argument == Text("C:\\x.pfx", filepath.offset + 10)
    assert isinstance(force, Parameter) and force.argument is None


def test_a_dash_inside_a_word_does_not_split_it_as_in_the_pages_command() -> None:
    (pipeline,) = parse_line("Request-CsCertificate -ComputerFQDN ucc01.companya.com-Verbose")
    command = pipeline.elements[0]
    assert isinstance(command, Command)
    assert [type(e).__name__ for e in command.elements] == ["Parameter", "Text"]
    assert command.elements[1].value == "ucc01.companya.com-Verbose"  # type: ignore[union-attr]


@pytest.mark.parametrize(("line", "value"), [
    ("'single $x `t'", "single $x `t"),
    ("'it''s'", "it's"),
    ('$x = "mnopqr"; "pw=$x."', "pw=mnopqr."),
    ('"tab`there `"q`" and ""dq"""', 'tab\there "q" and "dq"'),
    ('$x = "b"; "a$($x)c"', "abc"),
    ("\u201ctypographic\u201d", "typographic"),
    ("\u2018single\u2019", "single"),
    ('"$x.Subject"', ".Subject"),  # an undefined $x is $null; .Subject stays text in a string
])
def test_quoting_follows_powershell(line: str, value: str) -> None:
    assert evaluate(line)[-1] == value


@pytest.mark.parametrize(("line", "value"), [
    ('"CN=ucc01.companya.com" -like "*UCC01*"', True),
    ('"CN=ucc01.companya.com" -clike "*UCC01*"', False),
    ('"CN=ucc01.companya.com" -notlike "cn=fe01*"', True),
    ('"CN=ucc01.companya.com" -match "ucc0[0-9]"', True),
    ('"GenesysServerCertificate" -eq "genesysservercertificate"', True),
    ('"a" -eq "a" -and "b" -eq "c"', False),
    ('"a" -eq "b" -or -not $false', True),
    ("1,2,3 -eq 2", 2),  # the filtered array, unrolled into the output
    ('"fe01","ucc01" -contains "UCC01"', True),
    ("$null -eq $null", True),
])
def test_operators_follow_powershell(line: str, value: object) -> None:
    assert evaluate(line) == [value]


@pytest.mark.parametrize(("line", "char", "message", "error_id"), [
    ('Get-ChildItem "Cert:\\LocalMachine\\My', 15, 'The string is missing the terminator: ".', "TerminatorExpectedAtEndOfString"),
    ("Export-PfxCertificate -FilePath 'C:\\x.pfx", 33, "The string is missing the terminator: '.", "TerminatorExpectedAtEndOfString"),
    ('Export-PfxCertificate -Password (ConvertTo-SecureString "x" -AsPlainText -Force', 80,
     "Missing closing ')' in expression.", "MissingEndParenthesisInExpression"),
    ('gci Cert:\\LocalMachine\\My | Where-Object { $_.Subject -like "*x*"', 66,
     "Missing closing '}' in statement block or type definition.", "MissingEndCurlyBrace"),
    ("Get-ChildItem Cert:\\ |", 23, "An empty pipe element is not allowed.", "EmptyPipeElement"),
    ("Get-ChildItem | $x", 17, "Expressions are only allowed as the first element of a pipeline.",
     "ExpressionsMustBeFirstInPipeline"),
    ("$x -eq ucc01", 8, "Unexpected token 'ucc01' in expression or statement.", "UnexpectedToken"),
    ("$pw =", 6, "You must provide a value expression following the '=' operator.", "ExpectedValueExpression"),
])
def test_parse_errors_are_powershells(line: str, char: int, message: str, error_id: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_line(line)
    assert (caught.value.offset + 1, caught.value.message, caught.value.error_id) == (char, message, error_id)
    shown = format_parse_error(line, caught.value).splitlines()
    assert shown[0] == f"At line:1 char:{char}" and shown[3] == message
    assert shown[2] == "+ " + " " * (char - 1) + "~"
    assert shown[5] == f"    + FullyQualifiedErrorId : {error_id}"


@pytest.mark.parametrize("line", ["Get-ChildItem > C:\\out.txt", "if ($x) { Get-ChildItem }", "& certutil -revoke 01",
                                  "[string]$x", "Get-ChildItem | % { $_ }; @{a=1}"])
def test_powershell_the_lab_does_not_run_is_said_so(line: str) -> None:
    with pytest.raises(Unsupported):
        parse_line(line)


# -- on the lab's hosts -------------------------------------------------------------------------


def test_the_shell_way_request_export_and_place_the_pfx(lab: Path) -> None:
    requested = host(lab, "fe01", REQUEST)
    assert requested.exit_code == 0, requested.stderr
    assert "Subject          : CN=ucc01.companya.com" in requested.stdout
    listed = host(lab, "fe01", 'Get-ChildItem Cert:\\LocalMachine\\My | Where-Object { $_.FriendlyName -eq "GenesysServerCertificate" }'
                               " | Select-Object -ExpandProperty Thumbprint")
    thumbprint = listed.stdout.strip().splitlines()[-1]
    assert listed.exit_code == 0 and len(thumbprint) == 40
    exported = host(lab, "fe01", f"Get-ChildItem Cert:\\LocalMachine\\My\\{thumbprint} | Export-PfxCertificate "
                                 f"-FilePath \\\\ucc01\\C$\\GCTI\\UCConnector\\UCC_Lync\\etc\\GenesysServer_Certficate.pfx "
                                 f"-Password {PASSWORD}")
    assert exported.exit_code == 0, exported.stderr
    pfx = lab / "artifacts" / "GenesysServer_Certficate.pfx"
    assert f"{ETC}\\GenesysServer_Certficate.pfx on ucc01 is {pfx}" in exported.stderr
    assert "GenesysServer_Certficate.pfx" in exported.stdout and f"Directory: {ETC}" in exported.stdout
    contents = read_pfx(pfx, "mnopqr")
    # The cmdlet's defaults: the whole chain (BuildChain), TripleDES_SHA1.
    assert contents.private_key is not None and contents.friendly_name == "GenesysServerCertificate"
    assert len(contents.chain) == 2 and contents.encryption == "3des"
    assert pfx.stat().st_mode & 0o777 == 0o600
    manifest = json.loads((lab / "artifacts" / "manifest.json").read_text())
    assert {"role": "ucc-pfx", "path": "GenesysServer_Certficate.pfx", "format": "pkcs12", "password": "mnopqr",
            "doc_step": "Generating the Server Certificate Using Skype for Business Management Shell, step 5"} in manifest


@pytest.mark.interop
def test_openssl_reads_the_exported_pfx(lab: Path, tmp_path: Path) -> None:
    openssl = require_tool("openssl")
    done = host(lab, "fe01", f"Get-ChildItem Cert:\\LocalMachine\\My | Where-Object Subject -like '*fe01*' | "
                             f"Select-Object -First 1 | Export-PfxCertificate -FilePath C:\\export\\fe.pfx -Password {PASSWORD} "
                             "-CryptoAlgorithmOption AES256_SHA256 -ChainOption EndEntityCertOnly")
    assert done.exit_code == 0, done.stderr
    pfx = lab / "hosts-fs" / "fe01" / "C" / "export" / "fe.pfx"
    shown = subprocess.run([openssl, "pkcs12", "-in", str(pfx), "-passin", "pass:mnopqr", "-nokeys", "-info"],
                           capture_output=True, text=True, check=False)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.count("BEGIN CERTIFICATE") == 1 and "subject=CN = fe01.companya.com" in shown.stdout
    assert "AES-256-CBC" in shown.stderr


def test_the_pages_command_as_printed_makes_a_key_that_cannot_be_exported(lab: Path) -> None:
    page = f'Request-CsCertificate -New -Type Default -FriendlyName "Literal" -CA "{CA}" -ComputerFQDN ucc01.companya.com-Verbose'
    assert host(lab, "fe01", page).exit_code == 0
    listed = host(lab, "fe01", "gci Cert:\\LocalMachine\\My | ? FriendlyName -eq Literal | Format-List Subject, HasPrivateKey")
    assert "Subject       : CN=ucc01.companya.com-Verbose" in listed.stdout
    assert "HasPrivateKey : True" in listed.stdout
    before = fingerprint(lab)
    refused = host(lab, "fe01", f"gci Cert:\\LocalMachine\\My | ? FriendlyName -eq Literal | Export-PfxCertificate "
                                f"-FilePath C:\\literal.pfx -Password {PASSWORD}")
    assert refused.exit_code == 1
    assert refused.stderr.startswith("Export-PfxCertificate : Cannot export non-exportable private key.\n")
    assert fingerprint(lab) == before


def test_windows_paths_land_in_the_lab_folder(lab: Path) -> None:
    done = host(lab, "fe01", "Get-ChildItem Cert:\\LocalMachine\\Root | Export-Certificate -FilePath C:\\temp\\root.cer -Type CERT")
    assert done.exit_code == 0, done.stderr
    local = lab / "hosts-fs" / "fe01" / "C" / "temp" / "root.cer"
    assert f"C:\\temp\\root.cer on fe01 is {local}" in done.stderr
    root = read_certificate(local)
    assert local.read_bytes() == root.public_bytes(Encoding.DER)
    on_ucc = host(lab, "ucc01", "Import-Certificate -FilePath \\\\fe01.companya.com\\C$\\temp\\root.cer "
                                "-CertStoreLocation Cert:\\CurrentUser\\Root")
    assert on_ucc.exit_code == 0, on_ucc.stderr
    assert root.fingerprint(hashes.SHA1()).hex().upper() in on_ucc.stdout
    listed = host(lab, "ucc01", "$r = Get-ChildItem Cert:\\CurrentUser\\Root; $r.Subject")
    assert listed.stdout.strip() == root.subject.rfc4514_string()


def test_accounts_change_as_active_directory_changes_them(lab: Path) -> None:
    assert host(lab, "labdc01", "Set-ADAccountControl -Identity ocs-ucc -UseDESKeyOnly $true").exit_code == 0
    assert account(lab, "ocs-ucc")["use_des_key_only"] is True
    assert host(lab, "fe01", "Set-ADAccountControl ocs-ucc -UseDESKeyOnly:$false").exit_code == 0
    assert account(lab, "ocs-ucc")["use_des_key_only"] is False
    kvno = account(lab, "ocs-ucc")["kvno"]
    weak = host(lab, "labdc01", 'Set-ADAccountPassword -Identity ocs-ucc -Reset -NewPassword (ConvertTo-SecureString "ocs-ucc1!" -AsPlainText -Force)')
    assert weak.exit_code == 1
    assert weak.stderr.startswith("Set-ADAccountPassword : The password does not meet the length, complexity, or "
                                  "history requirement of the domain.")
    reset = host(lab, "labdc01", 'Set-ADAccountPassword -Identity ocs-ucc -Reset -NewPassword (ConvertTo-SecureString "Winter-2026!x" -AsPlainText -Force)')
    assert reset.exit_code == 0, reset.stderr
    assert account(lab, "ocs-ucc")["kvno"] == kvno + 1
    assert host(lab, "labdc01", "Set-ADUser -Identity ocs-ucc -ChangePasswordAtLogon $true").exit_code == 0
    assert account(lab, "ocs-ucc")["must_change_password"] is True
    assert host(lab, "labdc01", "Set-ADUser ocs-ucc -ChangePasswordAtLogon $false").exit_code == 0
    missing = host(lab, "labdc01", "Set-ADAccountControl -Identity ocs-uc -UseDESKeyOnly $true")
    assert missing.exit_code == 1 and "Cannot find an object with identity: 'ocs-uc' under: 'DC=companya,DC=com'." in missing.stderr
    not_there = host(lab, "ucc01", "Set-ADUser -Identity ocs-ucc -Enabled $false")  # no RSAT on the connector's host
    assert not_there.exit_code == 1 and f"The term 'Set-ADUser' {NOT_RECOGNIZED}" in not_there.stderr


def test_certutil_revokes_at_the_ca(lab: Path) -> None:
    issued = host(lab, "fe01", f'Request-CsCertificate -New -Type Default -FriendlyName "ToRevoke" -CA "{CA}" '
                               "-ComputerFQDN revoked.companya.com -PrivateKeyExportable $true")
    assert issued.exit_code == 0, issued.stderr
    serial = host(lab, "fe01", "(gci Cert:\\LocalMachine\\My | ? FriendlyName -eq ToRevoke).SerialNumber").stdout.strip()
    elsewhere = host(lab, "fe01", f"certutil -revoke {serial}")
    assert elsewhere.exit_code == 1
    assert elsewhere.stdout.splitlines()[0] == "CertUtil: No local Certification Authority; use -config option"
    done = host(lab, "fe01", f'certutil -config "{CA}" -revoke {serial} 1')
    assert done.exit_code == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == [f'Revoking "{serial.lower()}" -- Reason: Key Compromise',
                                        "CertUtil: -revoke command completed successfully."]

    async def revoked() -> list[str]:
        async with AttachedLab(lab) as attached:
            return (await attached.admin["ca"].get("crl-publication"))["crl"]["revoked"]

    assert serial.lower() in asyncio.run(revoked())
    again = host(lab, "labdc01", f"certutil -revoke {serial}")
    assert again.exit_code == 1 and again.stdout.startswith("CertUtil: -revoke command FAILED: 0x80094003")


# -- bad input: PowerShell's words, the lab unchanged ----------------------------------------------

BAD_LINES = [
    ("fe01", "Get-Certificates Cert:\\LocalMachine\\My", 1, f"Get-Certificates : The term 'Get-Certificates' {NOT_RECOGNIZED}"),
    ("ucc01", REQUEST, 1, f"Request-CsCertificate : The term 'Request-CsCertificate' {NOT_RECOGNIZED}"),
    ("fe01", f"Export-PfxCertificate -Cert Cert:\\LocalMachine\\My -FilePath C:\\x.pfx -Passwort {PASSWORD}", 1,
     "Export-PfxCertificate : A parameter cannot be found that matches parameter name 'Passwort'."),
    ("fe01", "Export-PfxCertificate -C x -FilePath C:\\x.pfx", 1,
     "Export-PfxCertificate : Parameter cannot be processed because the parameter name 'C' is ambiguous. Possible "
     "matches include: -Cert -ChainOption -CryptoAlgorithmOption -Confirm."),
    ("fe01", "Export-PfxCertificate -Cert Cert:\\LocalMachine\\My -FilePath", 1,
     "Export-PfxCertificate : Missing an argument for parameter 'FilePath'. Specify a parameter of type 'System.String' "
     "and try again."),
    ("fe01", 'Export-PfxCertificate -Cert Cert:\\LocalMachine\\My -FilePath C:\\x.pfx -Password "mnopqr"', 1,
     "Export-PfxCertificate : Cannot bind parameter 'Password'. Cannot convert the \"mnopqr\" value of type "
     "\"System.String\" to type \"System.Security.SecureString\"."),
    ("fe01", "Export-PfxCertificate -FilePath C:\\x.pfx -FilePath C:\\y.pfx", 1,
     "Export-PfxCertificate : Cannot bind parameter because parameter 'FilePath' is specified more than once."),
    ("fe01", "Export-Certificate -FilePath C:\\x.cer", 1,
     "Export-Certificate : Cannot process command because of one or more missing mandatory parameters: Cert."),
    ("labdc01", "Set-ADAccountControl -Identity ocs-ucc -UseDESKeyOnly yes", 1,
     "Set-ADAccountControl : Cannot process argument transformation on parameter 'UseDESKeyOnly'. Cannot convert value "
     '"System.String" to type "System.Boolean". Boolean parameters accept only Boolean values and numbers, such as '
     "$True, $False, 1 or 0."),
    ("fe01", 'ConvertTo-SecureString "mnopqr" -AsPlainText', 1,
     "ConvertTo-SecureString : The system cannot protect plain text input. To suppress this warning and convert the "
     "plain text to a SecureString, reissue the command specifying the Force parameter."),
    ("fe01", "Get-ChildItem Cert:\\LocalMachine\\Personal", 1,
     "Get-ChildItem : Cannot find path 'Cert:\\LocalMachine\\Personal' because it does not exist."),
    ("fe01", "Export-Certificate -Cert Cert:\\LocalMachine\\Root -FilePath D:\\root.cer", 1,
     "Export-Certificate : Cannot find drive. A drive with the name 'D' does not exist."),
    ("fe01", 'Request-CsCertificate -New -FriendlyName "x"', 1,
     "Request-CsCertificate : Cannot process command because of one or more missing mandatory parameters: Type."),
    ("fe01", 'Get-ChildItem "Cert:\\LocalMachine\\My', 1, 'The string is missing the terminator: ".'),
    ("fe01", "Where-Object { $_.Subject -eq 'x'", 1, "Missing closing '}' in statement block or type definition."),
    ("fe01", "Get-ChildItem C:\\GCTI -Recurse", 2, "ucclab host: not run: "),
    ("fe01", "Get-ChildItem Cert:\\LocalMachine\\My -DnsName ucc01*", 2, "does not model"),
]


@pytest.mark.parametrize(("name", "line", "code", "words"), BAD_LINES, ids=[b[1][:40] for b in BAD_LINES])
def test_bad_lines_get_powershells_words_and_change_nothing(lab: Path, name: str, line: str, code: int, words: str) -> None:
    before = fingerprint(lab)
    result = host(lab, name, line)
    assert (result.exit_code, result.stdout) == (code, "")
    assert words in result.stderr
    assert "Traceback" not in result.stderr
    assert fingerprint(lab) == before


def test_a_failing_statement_leaves_the_whole_line_undone(lab: Path) -> None:
    before = fingerprint(lab)
    line = ("Get-ChildItem Cert:\\LocalMachine\\Root | Export-Certificate -FilePath C:\\half\\root.cer; "
            "Import-Certificate -FilePath C:\\half\\root.cer -CertStoreLocation Cert:\\LocalMachine\\My; "
            "Set-ADAccountControl -Identity ocs-ucc -UseDESKeyOnly $true; Get-Nothing")
    result = host(lab, "fe01", line)
    assert result.exit_code == 1 and f"Get-Nothing : The term 'Get-Nothing' {NOT_RECOGNIZED}" in result.stderr
    assert fingerprint(lab) == before and account(lab, "ocs-ucc")["use_des_key_only"] is False
    assert not (lab / "hosts-fs" / "fe01" / "C" / "half").exists()
    # A refusal by the CA (a serial it never issued) comes first: nothing else of the line is applied.
    refused = host(lab, "labdc01", "Get-ChildItem Cert:\\LocalMachine\\Root | Export-Certificate -FilePath C:\\half.cer; "
                                   "certutil -revoke 0badc0de")
    assert refused.exit_code == 1 and "CRYPT_E_NOT_FOUND" in refused.stdout
    assert fingerprint(lab) == before
    # The same line, whole: every statement applied, in order, and the later ones see the earlier ones' work.
    whole = host(lab, "fe01", line.replace("; Get-Nothing", "; (Get-ChildItem Cert:\\LocalMachine\\My).Count")
                 .replace("-UseDESKeyOnly $true", "-UseDESKeyOnly $false"))
    assert whole.exit_code == 0, whole.stderr
    assert (lab / "hosts-fs" / "fe01" / "C" / "half" / "root.cer").is_file()


def test_the_command_line_exit_codes(lab: Path) -> None:
    listed = ucclab("host", "fe01", "--workdir", str(lab), "--", "Get-ChildItem Cert:\\LocalMachine\\Root")
    assert listed.returncode == 0 and "PSParentPath: Microsoft.PowerShell.Security\\Certificate::LocalMachine\\Root" in listed.stdout
    unknown = ucclab("host", "fe01", "--workdir", str(lab), "--", "Get-Foo")
    assert unknown.returncode == 1 and unknown.stderr.startswith(f"Get-Foo : The term 'Get-Foo' {NOT_RECOGNIZED}")
    quotes = ucclab("host", "fe01", "--workdir", str(lab), "--", "Get-ChildItem 'Cert:\\")
    assert quotes.returncode == 1 and "The string is missing the terminator: '." in quotes.stderr
    split = ucclab("host", "fe01", "--workdir", str(lab), "--", "Get-ChildItem", "Cert:\\")
    assert split.returncode == 2 and "one argument after --" in split.stderr
    nobody = ucclab("host", "gcfg01", "--workdir", str(lab), "--", "Get-ChildItem Cert:\\")
    assert nobody.returncode == 2 and "its hosts are labdc01, fe01, ucc01" in nobody.stderr
    none = ucclab("host", "fe01", "--workdir", str(lab.parent / "nothing"), "--", "Get-ChildItem Cert:\\")
    assert none.returncode == 2 and "no lab runs in" in none.stderr


def test_request_output_is_the_certificate_the_ca_issued(lab: Path) -> None:
    done = host(lab, "fe01", f'Request-CsCertificate -New -Type Default -CA "{CA}" -ComputerFQDN ucc02.companya.com -PrivateKeyExportable 1')
    assert done.exit_code == 0, done.stderr
    thumbprint = next(line.split(":")[1].strip() for line in done.stdout.splitlines() if line.startswith("Thumbprint"))
    stored = lab / "state" / "hosts" / "fe01" / "computer" / "personal" / f"{thumbprint}.pem"
    certificate = x509.load_pem_x509_certificate(stored.read_bytes())
    assert certificate.subject.rfc4514_string() == "CN=ucc02.companya.com"

"""Request-CsCertificate as PowerShell binds it, and the request it sends."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fakes.ca import (
    CertificationAuthority,
    RequestCsCertificate,
    ShellError,
    build_cs_certificate_csr,
    check_ca_config,
    parse_request_cs_certificate,
)

# The page's step, with [server_name] replaced by the connector host as the page asks.
PAGE_COMMAND = (
    'Request-CsCertificate -New -Type Default -FriendlyName "GenesysServerCertificate" '
    '-CA "labdc01.companya.com\\companya-LABDC01-CA" -ComputerFQDN ucc01.companya.com-Verbose'
)
BASE = 'Request-CsCertificate -New -Type Default -ComputerFqdn ucc01.companya.com'


def test_the_page_command_binds_verbose_into_the_fqdn() -> None:
    assert parse_request_cs_certificate(PAGE_COMMAND) == RequestCsCertificate(
        new=True,
        type="Default",
        friendly_name="GenesysServerCertificate",
        ca="labdc01.companya.com\\companya-LABDC01-CA",
        computer_fqdn="ucc01.companya.com-Verbose",
        private_key_exportable=False,
        template="WebServer",
        key_size=2048,
        verbose=False,
        domain_name=(),
    )


def test_with_the_missing_space_restored_verbose_is_a_switch() -> None:
    request = parse_request_cs_certificate(PAGE_COMMAND.replace("-Verbose", " -Verbose"))
    assert (request.computer_fqdn, request.verbose) == ("ucc01.companya.com", True)


@pytest.mark.parametrize(
    ("argument", "expected"),
    [("-PrivateKeyExportable $true", True), ("-PrivateKeyExportable $True", True),
     ("-PrivateKeyExportable:$true", True), ("-PrivateKeyExportable 1", True),
     ("-PrivateKeyExportable $false", False), ("-privatekeyexportable:$FALSE", False)],
)
def test_private_key_exportable_takes_a_boolean(argument: str, expected: bool) -> None:
    assert parse_request_cs_certificate(f"{BASE} {argument}").private_key_exportable is expected


def test_private_key_exportable_alone_is_missing_its_argument() -> None:
    with pytest.raises(ShellError) as error:
        parse_request_cs_certificate(f"{BASE} -PrivateKeyExportable")
    assert str(error.value) == (
        "Missing an argument for parameter 'PrivateKeyExportable'. Specify a parameter of type"
        " 'System.Boolean' and try again.")


@pytest.mark.parametrize("value", ["yes", '"$true"', "'True'"])
def test_private_key_exportable_refuses_strings(value: str) -> None:
    with pytest.raises(ShellError, match=r"^Cannot process argument transformation on parameter"
                       r" 'PrivateKeyExportable'\. Cannot convert value \"System\.String\" to type"
                       r" \"System\.Boolean\"\. Boolean parameters accept only Boolean values"):
        parse_request_cs_certificate(f"{BASE} -PrivateKeyExportable {value}")


def test_an_unknown_parameter_is_refused_in_powershell_words() -> None:
    with pytest.raises(ShellError) as error:
        parse_request_cs_certificate(f"{BASE} -ExportKey")
    assert str(error.value) == (
        "A parameter cannot be found that matches parameter name 'ExportKey'.")


def test_parameter_names_are_case_insensitive_and_may_be_abbreviated() -> None:
    request = parse_request_cs_certificate(
        "request-cscertificate -new -type default -Comp ucc01.companya.com -friendly x -tem Copy")
    assert (request.computer_fqdn, request.friendly_name, request.template) == (
        "ucc01.companya.com", "x", "Copy")


def test_an_ambiguous_abbreviation_is_refused() -> None:
    with pytest.raises(ShellError, match=r"^Parameter cannot be processed because the parameter "
                       r"name 'C' is ambiguous\. Possible matches include: -CA -ComputerFqdn"):
        parse_request_cs_certificate(f"{BASE} -C x")


@pytest.mark.parametrize(
    ("written", "expected"),
    [('"Genesys Server Certificate"', "Genesys Server Certificate"),
     ("'Genesys Server Certificate'", "Genesys Server Certificate"),
     ("'it''s'", "it's"),
     ('"say ""hi"""', 'say "hi"'),
     ('"tick`"quote"', 'tick"quote'),
     ("\u201cSmart quotes\u201d", "Smart quotes"),
     ('"-Verbose"', "-Verbose")],
)
def test_quoted_values(written: str, expected: str) -> None:
    request = parse_request_cs_certificate(f"{BASE} -FriendlyName {written}")
    assert request.friendly_name == expected and request.verbose is False


def test_typographic_dashes_start_parameters_too() -> None:
    request = parse_request_cs_certificate(
        "Request-CsCertificate \u2013New \u2013Type Default \u2013ComputerFqdn h.companya.com")
    assert request.computer_fqdn == "h.companya.com"


def test_colon_syntax_and_continuation_lines() -> None:
    request = parse_request_cs_certificate(
        'Request-CsCertificate -New -Type:Default `\n -CA:"labdc01.companya.com\\x" -KeySize 4096')
    assert (request.type, request.ca, request.key_size) == (
        "Default", "labdc01.companya.com\\x", 4096)


def test_types_and_domain_names_are_lists() -> None:
    request = parse_request_cs_certificate(
        'Request-CsCertificate -New -Type default,webservicesinternal -ComputerFqdn a.companya.com'
        ' -DomainName "pool.companya.com, sip.companya.com"')
    assert request.type == "Default,WebServicesInternal"
    assert request.domain_name == ("pool.companya.com", "sip.companya.com")


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("Request-CsCertificate -New -ComputerFqdn a.b.c",
         "Cannot process command because of one or more missing mandatory parameters: Type."),
        ("Request-CsCertificate -Type Default",
         "Parameter set cannot be resolved using the specified named parameters."),
        (f"{BASE} -CA x -CA y",
         "Cannot bind parameter because parameter 'CA' is specified more than once."),
        (f"{BASE} extra", "A positional parameter cannot be found that accepts argument 'extra'."),
        (f"{BASE} -CA", "Missing an argument for parameter 'CA'. Specify a parameter of type"
                        " 'System.String' and try again."),
        (f"{BASE} -New:$false", "Cannot bind parameter because parameter 'New' is specified"),
        (f"{BASE} -KeySize big", "Cannot process argument transformation on parameter 'KeySize'."
                                 ' Cannot convert value "big" to type "System.Int32".'),
        ("Request-CsCertificate -New -Type Frontend", "Cannot bind parameter 'Type'. Cannot"
                                                      ' convert value "Frontend" to type'),
        (f'{BASE} -FriendlyName "unterminated', 'The string is missing the terminator: ".'),
        (f"{BASE} -CA $ca", "The variable '$ca' is not defined in the lab's shell"),
        ("Request-CertificateCs -New", "The term 'Request-CertificateCs' is not recognized as the"
                                       " name of a cmdlet"),
        (f"{BASE} -Output C:\\req.txt", "Request-CsCertificate accepts -Output, but the lab does"
                                        " not model it"),
        ("Request-CsCertificate -List", "Request-CsCertificate accepts -List, but the lab does"
                                        " not model it"),
        ("", "Empty command line"),
    ],
)
def test_refused_command_lines(command: str, message: str) -> None:
    with pytest.raises(ShellError) as error:
        parse_request_cs_certificate(command)
    assert str(error.value).startswith(message)


def test_the_csr_names_the_computer_fqdn(ca_rsa_key: rsa.RSAPrivateKey) -> None:
    request = parse_request_cs_certificate(f"{BASE} -DomainName pool.companya.com")
    csr = build_cs_certificate_csr(request, ca_rsa_key)
    assert csr.is_signature_valid
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "ucc01.companya.com"
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["ucc01.companya.com", "pool.companya.com"]


def test_a_csr_needs_a_computer_fqdn(ca_rsa_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(ShellError, match="needs -ComputerFqdn"):
        build_cs_certificate_csr(
            parse_request_cs_certificate("Request-CsCertificate -New -Type Default"), ca_rsa_key)


def test_the_page_command_end_to_end_names_a_host_that_does_not_exist(
    ca_one_tier: CertificationAuthority, ca_rsa_key: rsa.RSAPrivateKey,
) -> None:
    request = parse_request_cs_certificate(PAGE_COMMAND)
    check_ca_config(request, ca_one_tier)
    result = ca_one_tier.submit(build_cs_certificate_csr(request, ca_rsa_key),
                                template=request.template, requester="COMPANYA\\lyncadmin")
    assert result.certificate is not None
    san = result.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["ucc01.companya.com-Verbose"]
    eku = result.certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]


@pytest.mark.parametrize(
    "ca", [None, "labdc01.companya.com\\companya-LABDC01-CA",
           "LABDC01.COMPANYA.COM\\COMPANYA-labdc01-ca", "labdc01\\companya-LABDC01-CA"],
)
def test_ca_config_strings_that_name_the_lab_ca(
    ca_one_tier: CertificationAuthority, ca: str | None,
) -> None:
    check_ca_config(_with_ca(ca), ca_one_tier)  # does not raise


def _with_ca(ca: str | None) -> RequestCsCertificate:
    return RequestCsCertificate(new=True, type="Default", friendly_name=None, ca=ca,
                                computer_fqdn="ucc01.companya.com")


@pytest.mark.parametrize(
    ("ca", "message"),
    [("dc02.companya.com\\companya-LABDC01-CA", "The RPC server is unavailable. 0x800706ba"),
     ("labdc01.companya.com\\companya-CA", "The system cannot find the file specified."),
     ("companya-LABDC01-CA", "The parameter is incorrect. 0x80070057")],
)
def test_ca_config_strings_that_do_not(
    ca_one_tier: CertificationAuthority, ca: str, message: str,
) -> None:
    with pytest.raises(ShellError) as error:
        check_ca_config(_with_ca(ca), ca_one_tier)
    assert message in str(error.value) and ca in str(error.value)

"""The page's Skype for Business Management Shell step, read the way PowerShell reads it.

The page says to type::

    Request-CsCertificate -New -Type Default -FriendlyName "GenesysServerCertificate"
        -CA "labdc01.companya.com\\companya-LABDC01-CA" -ComputerFQDN [server_name]-Verbose

Note the missing space before ``-Verbose``. PowerShell's tokenizer does not split a
bareword at a dash, so ``-ComputerFQDN ucc01.companya.com-Verbose`` binds the value
``ucc01.companya.com-Verbose`` and ``-Verbose`` is never seen. The parser here keeps
that on purpose: a certificate requested that way names a host that does not exist.

What is modelled of PowerShell's parameter binding, with its own error texts:

* quoting: ``"..."`` (backtick escapes, ``""`` for a quote) and ``'...'`` (``''``),
  including the typographic quotes and dashes PowerShell also accepts — text copied
  from a web page often has them;
* ``-Name value``, ``-Name:value``, switches (``-New``, ``-Verbose``, ``-Switch:$false``),
  case-insensitive names, unambiguous prefixes (``-Comp``), the documented aliases;
* Boolean parameters (``-PrivateKeyExportable``, documented as ``<Boolean>``) need
  ``$true``/``$false`` or a number: a bare ``-PrivateKeyExportable`` is an error in
  PowerShell, not a switch;
* errors: unknown and ambiguous parameter names, missing arguments, positional
  arguments, repeated parameters, missing mandatory ``-Type``, unresolvable parameter
  set, values that do not convert.

Parameters of the real cmdlet that the lab does not model (``-Output``, ``-CaAccount``,
``-ClientEKU``...) are recognised and refused with a message that says so, rather than
being silently ignored. The parameter list is the cmdlet's reference page
(Lync Server 2010 to Skype for Business Server 2019) plus PowerShell's common parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
)
from cryptography.x509.oid import NameOID

from ._authority import CertificationAuthority
from ._errors import ShellError

__all__ = [
    "RequestCsCertificate",
    "build_cs_certificate_csr",
    "check_ca_config",
    "parse_request_cs_certificate",
]

CMDLET = "Request-CsCertificate"


@dataclass(frozen=True)
class RequestCsCertificate:
    """A bound ``Request-CsCertificate -New`` command line.

    Defaults are the cmdlet's: ``-Template`` WebServer, a 2048-bit key, the private
    key *not* exportable (the page never passes ``-PrivateKeyExportable $true``).
    ``type`` is the canonical, comma-joined ``-Type`` value ("Default").
    """

    new: bool
    type: str
    friendly_name: str | None
    ca: str | None
    computer_fqdn: str | None
    private_key_exportable: bool = False
    template: str = "WebServer"
    key_size: int = 2048
    verbose: bool = False
    domain_name: tuple[str, ...] = ()


# Kinds of parameter: how a value binds, and the .NET type PowerShell names in errors.
_SWITCH = "System.Management.Automation.SwitchParameter"
_STRING = "System.String"
_INT32 = "System.Int32"
_BOOLEAN = "System.Boolean"
_FQDN = "Microsoft.Rtc.Management.Deployment.Fqdn"
_CERT_TYPES = "Microsoft.Rtc.Management.Deployment.CertType[]"

# Parameters the lab models, in the cmdlet's documented order...
_MODELLED: dict[str, str] = {
    "New": _SWITCH, "Type": _CERT_TYPES, "CA": _STRING, "ComputerFqdn": _FQDN,
    "DomainName": _STRING, "FriendlyName": _STRING, "KeySize": _INT32,
    "PrivateKeyExportable": _BOOLEAN, "Template": _STRING, "Verbose": _SWITCH,
}
# ...and those the real cmdlet (or PowerShell) accepts but the lab does not model.
_UNMODELLED: dict[str, str] = {
    "CaAccount": _STRING, "CaPassword": _STRING, "City": _STRING, "ClientEKU": _BOOLEAN,
    "Country": _STRING, "GlobalCatalog": _FQDN, "GlobalSettingsDomainController": _FQDN,
    "KeyAlg": _STRING, "Organization": _STRING, "OU": _STRING, "Output": _STRING,
    "State": _STRING, "Force": _SWITCH, "Report": _STRING, "WhatIf": _SWITCH,
    "Confirm": _SWITCH, "AllSipDomain": _SWITCH, "Clear": _SWITCH, "List": _SWITCH,
    "Retrieve": _SWITCH, "RequestId": _INT32,
    "Debug": _SWITCH, "ErrorAction": _STRING, "ErrorVariable": _STRING,
    "InformationAction": _STRING, "InformationVariable": _STRING, "OutVariable": _STRING,
    "OutBuffer": _INT32, "PipelineVariable": _STRING, "WarningAction": _STRING,
    "WarningVariable": _STRING,
}
_PARAMETERS = {**_MODELLED, **_UNMODELLED}
_ALIASES = {
    "wi": "WhatIf", "cf": "Confirm", "vb": "Verbose", "db": "Debug", "ea": "ErrorAction",
    "ev": "ErrorVariable", "infa": "InformationAction", "iv": "InformationVariable",
    "ov": "OutVariable", "ob": "OutBuffer", "pv": "PipelineVariable",
    "wa": "WarningAction", "wv": "WarningVariable",
}
# -Type values the reference page lists (it says "include, but are not limited to").
_CERT_TYPE_NAMES = (
    "AccessEdgeExternal", "AudioVideoAuthentication", "DataEdgeExternal", "Default",
    "External", "Internal", "iPhoneAPNService", "iPadAPNService", "MPNService",
    "OAuthTokenIssuer", "PICWebService", "ProvisionService", "WebServicesExternal",
    "WebServicesInternal", "WsFedTokenTransfer", "XmppServer",
)

# PowerShell accepts typographic dashes and quotes as well as the ASCII ones.
_DASHES = "-\u2013\u2014\u2015"
_DOUBLE_QUOTES = '"\u201c\u201d\u201e'
_SINGLE_QUOTES = "'\u2018\u2019\u201a\u201b"
_BACKTICK_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0"}


@dataclass(frozen=True)
class _Token:
    text: str
    quoted: bool        # some part was quoted: "$true" in quotes is a string
    parameter: bool     # an unquoted -Name: a parameter, never a value


def _tokenize(command: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(command)
    while i < n:
        if command[i].isspace():
            i += 1
            continue
        if command[i] == "`" and i + 1 < n and command[i + 1] in "\r\n":
            i += 2  # line continuation
            continue
        text: list[str] = []
        quoted = False
        parameter = (command[i] in _DASHES and i + 1 < n
                     and (command[i + 1].isalpha() or command[i + 1] in "_?"))
        while i < n and not command[i].isspace():
            char = command[i]
            if char in _DOUBLE_QUOTES:
                i = _read_double_quoted(command, i + 1, text)
                quoted = True
            elif char in _SINGLE_QUOTES:
                i = _read_single_quoted(command, i + 1, text)
                quoted = True
            elif char == "`" and i + 1 < n:
                text.append(_BACKTICK_ESCAPES.get(command[i + 1], command[i + 1]))
                i += 2
            else:
                text.append("-" if char in _DASHES else char)
                i += 1
        tokens.append(_Token("".join(text), quoted, parameter))
    return tokens


def _read_double_quoted(command: str, i: int, out: list[str]) -> int:
    while i < len(command):
        char = command[i]
        if char == "`" and i + 1 < len(command):
            out.append(_BACKTICK_ESCAPES.get(command[i + 1], command[i + 1]))
            i += 2
        elif char in _DOUBLE_QUOTES:
            if i + 1 < len(command) and command[i + 1] in _DOUBLE_QUOTES:
                out.append('"')  # "" inside double quotes is a literal quote
                i += 2
            else:
                return i + 1
        else:
            out.append(char)
            i += 1
    raise ShellError('The string is missing the terminator: ".')


def _read_single_quoted(command: str, i: int, out: list[str]) -> int:
    while i < len(command):
        char = command[i]
        if char in _SINGLE_QUOTES:
            if i + 1 < len(command) and command[i + 1] in _SINGLE_QUOTES:
                out.append("'")
                i += 2
            else:
                return i + 1
        else:
            out.append(char)
            i += 1
    raise ShellError("The string is missing the terminator: '.")


def _resolve_parameter(written: str) -> str:
    wanted = written.casefold()
    for name in _PARAMETERS:
        if name.casefold() == wanted:
            return name
    if wanted in _ALIASES:
        return _ALIASES[wanted]
    matches = [name for name in _PARAMETERS if name.casefold().startswith(wanted)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise ShellError(
            f"Parameter cannot be processed because the parameter name '{written}' is "
            f"ambiguous. Possible matches include: {' '.join('-' + m for m in matches)}."
        )
    raise ShellError(f"A parameter cannot be found that matches parameter name '{written}'.")


def _boolean(name: str, token: _Token, kind: str) -> bool:
    # Unquoted $true/$false or a number; anything else is a string PowerShell refuses.
    value = token.text.casefold()
    if not token.quoted:
        if value in ("$true", "$false"):
            return value == "$true"
        try:
            return int(value, 10) != 0
        except ValueError:
            pass
    shown = token.text if kind == _SWITCH else "System.String"
    raise ShellError(
        f"Cannot process argument transformation on parameter '{name}'. Cannot convert "
        f'value "{shown}" to type "{kind}". Boolean parameters accept only Boolean '
        "values and numbers, such as $True, $False, 1 or 0."
    )


def _convert(name: str, kind: str, token: _Token) -> str | int | bool:
    if kind in (_SWITCH, _BOOLEAN):
        return _boolean(name, token, kind)
    if not token.quoted and token.text.startswith("$"):
        raise ShellError(
            f"The variable '{token.text}' is not defined in the lab's shell; "
            f"write the value of -{name} itself."
        )
    if kind == _INT32:
        try:
            return int(token.text.strip(), 10)
        except ValueError:
            raise ShellError(
                f"Cannot process argument transformation on parameter '{name}'. Cannot "
                f'convert value "{token.text}" to type "{kind}". Error: "Input string was '
                'not in a correct format."'
            ) from None
    if kind == _CERT_TYPES:
        canonical = {type_name.casefold(): type_name for type_name in _CERT_TYPE_NAMES}
        names = []
        for item in filter(None, (part.strip() for part in token.text.split(","))):
            if item.casefold() not in canonical:
                raise ShellError(
                    f"Cannot bind parameter '{name}'. Cannot convert value \"{item}\" to "
                    f'type "{kind[:-2]}". Error: "Unable to match the identifier name '
                    f"{item} to a valid enumerator name. Specify one of the following "
                    f'enumerator names and try again: {", ".join(_CERT_TYPE_NAMES)}"'
                )
            names.append(canonical[item.casefold()])
        return ",".join(names)
    return token.text


def parse_request_cs_certificate(command: str) -> RequestCsCertificate:
    """Bind a ``Request-CsCertificate`` command line as PowerShell would.

    Raises :class:`ShellError` with PowerShell's wording where PowerShell refuses the
    line, and for real parameters the lab does not model. The value of each parameter
    is exactly what PowerShell binds: ``-ComputerFQDN ucc01.companya.com-Verbose``
    gives ``computer_fqdn="ucc01.companya.com-Verbose"`` and ``verbose=False``.
    """
    tokens = _tokenize(command)
    if not tokens:
        raise ShellError("Empty command line: expected Request-CsCertificate.")
    if tokens[0].text.casefold() != CMDLET.casefold():
        raise ShellError(
            f"The term '{tokens[0].text}' is not recognized as the name of a cmdlet, "
            "function, script file, or operable program. Check the spelling of the name, "
            "or if a path was included, verify that the path is correct and try again."
        )
    bound: dict[str, str | int | bool] = {}
    i = 1
    while i < len(tokens):
        token = tokens[i]
        if not token.parameter:
            raise ShellError(
                f"A positional parameter cannot be found that accepts argument '{token.text}'."
            )
        written, colon, inline = token.text[1:].partition(":")
        name = _resolve_parameter(written)
        kind = _PARAMETERS[name]
        if name in bound:
            raise ShellError(
                f"Cannot bind parameter because parameter '{name}' is specified more than "
                "once. To provide multiple values to parameters that can accept multiple "
                'values, use the array syntax. For example, "-parameter value1,value2,value3".'
            )
        i += 1
        if colon and inline:
            value = _Token(inline, token.quoted, parameter=False)
        elif kind == _SWITCH and not colon:
            bound[name] = True
            continue
        elif i < len(tokens) and not tokens[i].parameter:
            value = tokens[i]
            i += 1
        else:
            raise ShellError(
                f"Missing an argument for parameter '{name}'. Specify a parameter of type "
                f"'{kind}' and try again."
            )
        bound[name] = _convert(name, kind, value)

    if not bound.get("New") and not any(bound.get(s) for s in ("List", "Retrieve", "Clear")):
        raise ShellError("Parameter set cannot be resolved using the specified named parameters.")
    if bound.get("New") and "Type" not in bound:
        raise ShellError(
            "Cannot process command because of one or more missing mandatory parameters: Type."
        )
    unmodelled = [name for name in bound if name in _UNMODELLED]
    if unmodelled:
        raise ShellError(
            f"{CMDLET} accepts {', '.join('-' + n for n in unmodelled)}, but the lab does "
            "not model it; the lab replays -New requests with the parameters "
            f"{', '.join('-' + n for n in _MODELLED)}."
        )
    domain_names = str(bound.get("DomainName", ""))
    return RequestCsCertificate(
        new=True,
        type=str(bound["Type"]),
        friendly_name=_optional_str(bound.get("FriendlyName")),
        ca=_optional_str(bound.get("CA")),
        computer_fqdn=_optional_str(bound.get("ComputerFqdn")),
        private_key_exportable=bool(bound.get("PrivateKeyExportable", False)),
        template=str(bound.get("Template", "WebServer")),
        key_size=int(bound.get("KeySize", 2048)),
        verbose=bool(bound.get("Verbose", False)),
        domain_name=tuple(filter(None, (d.strip() for d in domain_names.split(",")))),
    )


def _optional_str(value: str | int | bool | None) -> str | None:
    return None if value is None else str(value)


def build_cs_certificate_csr(
    request: RequestCsCertificate, private_key: CertificateIssuerPrivateKeyTypes
) -> x509.CertificateSigningRequest:
    """The PKCS #10 request the cmdlet sends: CN and DNS SAN = ``-ComputerFqdn``.

    ``-DomainName`` entries are added as further DNS SANs; the request is signed with
    SHA-256. (The real cmdlet also adds pool and SIP names from the Lync topology; the
    connector host of the page is in no topology, so the lab adds none.)
    """
    if not request.computer_fqdn:
        raise ShellError(
            f"{CMDLET}: the lab needs -ComputerFqdn (the real cmdlet would use the "
            "computer it runs on, and the lab's shell runs on none)."
        )
    names = [request.computer_fqdn, *(d for d in request.domain_name
                                      if d.casefold() != request.computer_fqdn.casefold())]
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, request.computer_fqdn)]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]),
                       critical=False)
        .sign(private_key, hashes.SHA256())
    )


def check_ca_config(request: RequestCsCertificate, ca: CertificationAuthority) -> None:
    """Refuse ``-CA`` values that do not name ``ca`` (its ``host\\CA name`` config string).

    No ``-CA`` is fine: the cmdlet then uses the enterprise CA it finds in Active
    Directory, which is the lab's. The host may be given as FQDN or short name; both
    parts compare case-insensitively, as Windows does. The errors are CertCli's for those
    failures (Windows' texts for the codes); the wording around them is the lab's, as no
    public transcript of the cmdlet's own message for a wrong ``-CA`` was found.
    """
    if request.ca is None:
        return
    host, separator, name = request.ca.partition("\\")
    prefix = f'{CMDLET} : the certificate request could not be submitted to "{request.ca}": '
    if not separator or not host or not name:
        raise ShellError(
            prefix + "CCertRequest::Submit: The parameter is incorrect. 0x80070057 "
            "(WIN32: 87 ERROR_INVALID_PARAMETER) -- a CA is named \"host\\CA name\", "
            f'here "{ca.config_string}"'
        )
    known_hosts = {ca.host_fqdn.casefold(), ca.host_fqdn.split(".")[0].casefold()}
    if host.casefold() not in known_hosts:
        raise ShellError(
            prefix + "CCertRequest::Submit: The RPC server is unavailable. 0x800706ba "
            f"(WIN32: 1722 RPC_S_SERVER_UNAVAILABLE) -- the lab's CA is \"{ca.config_string}\""
        )
    if name.casefold() != ca.common_name.casefold():
        raise ShellError(
            prefix + "CCertRequest::Submit: The system cannot find the file specified. "
            "0x80070002 (WIN32: 2 ERROR_FILE_NOT_FOUND) -- the CA on "
            f'{ca.host_fqdn} is "{ca.common_name}"'
        )

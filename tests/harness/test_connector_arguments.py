"""The connector's command line: the page's blocks as written, Windows quoting, writing back."""

from __future__ import annotations

import pytest

from harness.connector import ConnectorArguments, format_arguments, parse_arguments
from tests.conftest import DATA

# The page's two blocks of options, as a customer copies them (tests/data/README.md).
MTLS_BLOCK = (DATA / "page" / "mtls-arguments.txt").read_text(encoding="utf-8")
TLS_BLOCK = (DATA / "page" / "tls-arguments.txt").read_text(encoding="utf-8")
STARTUP_BAT_BLOCK = (DATA / "page" / "startup-bat-arguments.txt").read_text(encoding="utf-8")


def _codes(text: str) -> list[tuple[str, str]]:
    return [(f.code, f.option) for f in parse_arguments(text).findings]


def test_the_mtls_block_is_the_pages_own_text() -> None:
    assert MTLS_BLOCK.strip().startswith("-cert_store_<path to .pfx file on UCC host>")
    assert MTLS_BLOCK.strip().endswith("-ket_store_type jks")


def test_mtls_block_pasted_verbatim_gives_exactly_the_pages_mistakes() -> None:
    parsed = parse_arguments(MTLS_BLOCK)
    found = [(f.code, f.option, f.severity) for f in parsed.findings]
    assert found == [
        ("arg-malformed", "-cert_store_<path to .pfx file on UCC host>", "error"),
        ("arg-missing-value", "-cert_store_pass", "error"),
        ("arg-missing-value", "-key_store_file", "error"),
        ("arg-malformed", found[3][1], "error"),  # the pasted explanation, checked below
        ("arg-missing-value", "-key_store_pass", "error"),
        ("arg-unknown", "-ket_store_type", "warning"),
    ]
    glued, password, _path, prose, _pass, typo = parsed.findings
    assert "option name glued to its value; did you mean -cert_store_file <path>?" in glued.message
    assert "no closing '>'" in password.message  # the page's "<password generated in ... Certificate."
    assert prose.option.startswith("—This file contains")
    assert "text pasted from the page's explanation" in prose.message
    assert "40 words" in prose.message  # the paragraph and both "• $JAVA_HOME/lib/security/..." bullets
    assert (
        "did you mean -key_store_type?" in typo.message and typo.hint == "Replace -ket_store_type with -key_store_type."
    )
    # Only the one well-formed option is read; the typo is kept, as written, for writing back.
    assert parsed.arguments == ConnectorArguments(
        cert_store_type="pkcs12",
        other=(("-cert_store_<path to .pfx file on UCC host>", None), ("-ket_store_type", "jks")),
    )


def test_mtls_block_filled_in_but_with_the_pages_typos() -> None:
    text = (
        r"-host labdc01.companya.com -port 2020 -app UCC -cert_store_c:\gcti\lync_ucc_1.pfx "
        r"-cert_store_pass genesys -cert_store_type pkcs12 -key_store_file c:\gcti\UCC_store.jks "
        r"-key_store_pass changeit -ket_store_type jks"
    )
    parsed = parse_arguments(text)
    assert _codes(text) == [
        ("arg-malformed", r"-cert_store_c:\gcti\lync_ucc_1.pfx"),
        ("arg-unknown", "-ket_store_type"),
    ]
    assert (
        parsed.findings[0].hint
        == r"Write the option and its value as two words: -cert_store_file c:\gcti\lync_ucc_1.pfx"
    )
    arguments = parsed.arguments
    assert (arguments.host, arguments.port, arguments.app) == ("labdc01.companya.com", 2020, "UCC")
    assert arguments.cert_store_file is None and arguments.cert_store_pass == "genesys"
    assert arguments.key_store_file == r"c:\gcti\UCC_store.jks" and arguments.key_store_type is None


def test_startup_bat_example() -> None:
    parsed = parse_arguments(STARTUP_BAT_BLOCK)
    assert parsed.findings == []
    assert parsed.arguments == ConnectorArguments(cert_store_file=r"c:\gcti\lync_ucc_1.pfx", cert_store_pass="genesys")


def test_startup_bat_command_with_program_and_continuation() -> None:
    line = (
        "ucc.exe -host labdc01 -port 2020 -app UCC ^\r\n"
        "  -cert_store_file c:\\gcti\\lync_ucc_1.pfx -cert_store_pass genesys"
    )
    parsed = parse_arguments(line, program=True)
    assert parsed.program == "ucc.exe" and parsed.findings == []
    assert parsed.arguments.cert_store_file == r"c:\gcti\lync_ucc_1.pfx"
    assert format_arguments(parsed.arguments, program=parsed.program) == (
        r"ucc.exe -host labdc01 -port 2020 -app UCC -cert_store_file c:\gcti\lync_ucc_1.pfx -cert_store_pass genesys"
    )


def test_tls_block_bullets_are_prose_around_real_options() -> None:
    found = _codes(TLS_BLOCK)
    assert [code for code, _ in found] == ["arg-malformed", "arg-missing-value"] * 3
    assert [option for code, option in found if code == "arg-missing-value"] == [
        "-krb_conf_file",
        "-cert_store_pass",
        "-cert_store_file",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r'-cert_store_file "c:\Program Files\GCTI\ucc.pfx"', r"c:\Program Files\GCTI\ucc.pfx"),
        (r'-cert_store_file "c:\gcti\ucc.pfx\\"', "c:\\gcti\\ucc.pfx\\"),  # 2n backslashes + quote
        (r"-cert_store_file c:\gcti\a\"b", r'c:\gcti\a"b'),  # 2n+1 backslashes + quote: literal quote
        (r'-cert_store_file "say ""hi"""', 'say "hi"'),  # "" inside quotes
        (r"-cert_store_file c:\\gcti\\x.pfx", r"c:\\gcti\\x.pfx"),  # backslashes alone are literal
        ('-cert_store_file "-dash.pfx"', "-dash.pfx"),  # a quoted word is a value, never an option
    ],
)
def test_windows_quoting(text: str, expected: str) -> None:
    parsed = parse_arguments(text)
    assert parsed.findings == []
    assert parsed.arguments.cert_store_file == expected


def test_unquoted_path_with_spaces_is_reported_with_the_quoted_fix() -> None:
    parsed = parse_arguments(r"-cert_store_file c:\Program Files\GCTI\ucc.pfx -cert_store_pass genesys")
    assert parsed.arguments.cert_store_file == r"c:\Program"
    (finding,) = parsed.findings
    assert finding.code == "arg-malformed"
    assert finding.hint == r'Quote the whole value: -cert_store_file "c:\Program Files\GCTI\ucc.pfx"'


@pytest.mark.parametrize(
    ("text", "option"),
    [
        ("-cert_store_file", "-cert_store_file"),  # at the end
        ("-cert_store_pass -cert_store_type pkcs12", "-cert_store_pass"),  # followed by an option
        ("-key_store_pass <password to unlock the keystore file>", "-key_store_pass"),  # the placeholder
    ],
)
def test_missing_values(text: str, option: str) -> None:
    parsed = parse_arguments(text)
    assert [(f.code, f.option) for f in parsed.findings] == [("arg-missing-value", option)]
    assert getattr(parsed.arguments, option.lstrip("-")) is None


def test_passwords_never_show_in_findings_repr_or_masked_form() -> None:
    parsed = parse_arguments("-cert_store_pass=s3cret -key_store_pass s3cret more –cert_store_pass s3cret")
    assert "s3cret" not in repr(parsed.arguments)
    assert "s3cret" not in str(parsed.arguments.masked())
    assert all("s3cret" not in f.message + f.hint for f in parsed.findings)
    assert [f.code for f in parsed.findings] == ["arg-malformed"] * 3
    assert "U+2013" in parsed.findings[2].message  # an en dash where the hyphen belongs
    assert "s3cret" not in format_arguments(parsed.arguments, mask_passwords=True)


def test_other_options_are_kept_and_near_misses_reported() -> None:
    parsed = parse_arguments("-app UCC -lmspath c:\\lms -V -Key_Store_File x.jks -cert_store")
    assert parsed.arguments.other == (
        ("-lmspath", "c:\\lms"),
        ("-V", None),
        ("-Key_Store_File", "x.jks"),
        ("-cert_store", None),
    )
    assert [(f.code, f.option) for f in parsed.findings] == [
        ("arg-unknown", "-Key_Store_File"),
        ("arg-unknown", "-cert_store"),
    ]


def test_port_must_be_a_number() -> None:
    parsed = parse_arguments("-port 20x0")
    assert parsed.arguments.port is None
    assert [f.code for f in parsed.findings] == ["arg-malformed"]


@pytest.mark.parametrize(
    "arguments",
    [
        ConnectorArguments(
            host="labdc01.companya.com",
            port=2020,
            app="UCC Connector",
            cert_store_file=r"c:\Program Files\GCTI\lync ucc.pfx",
            cert_store_pass='pa ss"word\\',
            cert_store_type="pkcs12",
            key_store_file="c:\\gcti\\UCC_store.jks\\",
            key_store_pass="changeit",
            key_store_type="jks",
            krb_conf_file=r"C:\GCTI\UCConnector\etc\krb5.conf",
            other=(("-ket_store_type", "jks"), ("-V", None)),
        ),
        ConnectorArguments(cert_store_file="", cert_store_pass=""),
    ],
)
def test_format_then_parse_gives_the_same_arguments(arguments: ConnectorArguments) -> None:
    line = format_arguments(arguments)
    parsed = parse_arguments(line)
    assert parsed.arguments == arguments
    assert [f.code for f in parsed.findings] == (["arg-unknown"] if arguments.other else [])

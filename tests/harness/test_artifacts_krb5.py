"""krb5.conf: the page's sample, our layout of it, and MIT profile syntax errors."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest

from harness.artifacts import (
    Krb5Conf,
    Krb5ConfSyntaxError,
    WrongFormatError,
    export_pfx,
    format_krb5_conf,
    page_krb5_conf,
    parse_krb5_conf,
    read_krb5_conf,
    write_krb5_conf,
)

from .artifacts_support import Pki, run

# "Creating the Configuration File for Kerberos security", step 2, as the page shows it.
PAGE_SAMPLE = """\
[libdefaults]
    default_realm = YOUR-OCS-DOMAIN.COM
 #     default_checksum = rsa-md5
 [realms]
       YOUR-OCS-DOMAIN.COM = {
        kdc = SERVER1.YOUR-OCS-DOMAIN.COM
    }
 [domain_realm]
   .your-ocs-domain.com = YOUR-OCS-DOMAIN.COM
"""

PAGE_CONF = Krb5Conf(
    libdefaults={"default_realm": "YOUR-OCS-DOMAIN.COM"},
    realms={"YOUR-OCS-DOMAIN.COM": {"kdc": ["SERVER1.YOUR-OCS-DOMAIN.COM"]}},
    domain_realm={".your-ocs-domain.com": "YOUR-OCS-DOMAIN.COM"},
)


def test_the_pages_sample_parses() -> None:
    assert parse_krb5_conf(PAGE_SAMPLE) == PAGE_CONF


def test_page_style_reproduces_the_page() -> None:
    conf = page_krb5_conf("YOUR-OCS-DOMAIN.COM", "SERVER1.YOUR-OCS-DOMAIN.COM", "your-ocs-domain.com")
    assert conf == PAGE_CONF
    assert format_krb5_conf(conf) == PAGE_SAMPLE


@pytest.mark.parametrize("page_style", [True, False])
def test_round_trip(page_style: bool) -> None:
    conf = Krb5Conf(
        libdefaults={"default_realm": "COMPANYA.COM", "allow_weak_crypto": "true", "odd": " spaced value "},
        realms={"COMPANYA.COM": {"kdc": ["127.0.0.1:8888", "labdc01.companya.com"], "v4": [{"x": ["1"]}]}},
        domain_realm={".companya.com": "COMPANYA.COM", "companya.com": "COMPANYA.COM"},
        other={"capaths": {"COMPANYA.COM": [{"OTHER.COM": ["."]}]}},
    )
    assert parse_krb5_conf(format_krb5_conf(conf, page_style=page_style)) == conf


def test_canonical_layout() -> None:
    assert format_krb5_conf(PAGE_CONF, page_style=False) == (
        "[libdefaults]\n    default_realm = YOUR-OCS-DOMAIN.COM\n\n"
        "[realms]\n    YOUR-OCS-DOMAIN.COM = {\n        kdc = SERVER1.YOUR-OCS-DOMAIN.COM\n    }\n\n"
        "[domain_realm]\n    .your-ocs-domain.com = YOUR-OCS-DOMAIN.COM\n"
    )


def test_mit_details() -> None:
    conf = parse_krb5_conf(
        "; a comment\n[libdefaults]*\n default_realm = A.COM\n default_realm = B.COM\n"
        '[realms]\n A.COM = {\n  kdc = "quoted \\"kdc\\""\n }\n A.COM = {\n  kdc = second\n }*\n'
    )
    assert conf.libdefaults == {"default_realm": "A.COM"}  # the first value wins, as in MIT and Java
    assert conf.realms == {"A.COM": {"kdc": ['quoted "kdc"', "second"]}}


@pytest.mark.parametrize(
    "text, line, words",
    [
        ("[libdefaults]\n x = 1\n\n[realms]\n R = {\n  kdc = a\n\n", 5, "unbalanced '{'"),
        ("[realms]\n R = {\n  kdc = a\n[domain_realm]\n", 4, "unbalanced '{'"),
        ("[realms]\n R = {\n }\n }\n", 4, "unbalanced '}'"),
        ("[libdefaults\n", 1, "missing ']'"),
        ("default_realm = A\n", 1, "before the first [section]"),
        ("[libdefaults]\n\n default_realm\n", 3, "missing '='"),
        ("[libdefaults]\n default realm = A\n", 2, "cannot contain spaces"),
        ("[libdefaults]\n x = \"open\n", 2, "closing quote"),
        ("[realms]\n R = { kdc = a }\n", 2, "text after '{'"),
        ("[realms]\n R = a\n", 2, "R = {"),
        ("[libdefaults]\n R = {\n }\n", 2, "not subsections"),
    ],
)
def test_syntax_errors_name_the_line(text: str, line: int, words: str) -> None:
    with pytest.raises(Krb5ConfSyntaxError) as info:
        parse_krb5_conf(text, source="etc/krb5.conf")
    assert info.value.line == line
    assert str(info.value).startswith(f"etc/krb5.conf line {line}: ")
    assert words in str(info.value)


def test_file_round_trip(tmp_path: Path) -> None:
    conf = page_krb5_conf("COMPANYA.COM", "labdc01.companya.com", "companya.com")
    path = write_krb5_conf(tmp_path / "krb5.conf", conf)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert read_krb5_conf(path) == conf
    broken = tmp_path / "broken.conf"
    broken.write_text("[realms]\n COMPANYA.COM = {\n")
    with pytest.raises(Krb5ConfSyntaxError, match=rf"^{broken} line 2: unbalanced"):
        read_krb5_conf(broken)


def test_a_pfx_is_not_a_krb5_conf(tmp_path: Path, pki: Pki) -> None:
    path = export_pfx(tmp_path / "krb5.conf", certificate=pki.leaf, private_key=pki.leaf_key)
    with pytest.raises(WrongFormatError, match="this is a PKCS#12"):
        read_krb5_conf(path)


# Java's own krb5.conf reader (the UC Connector's): default realm, KDC and domain mapping.
_JAVA_KRB5 = """
public class ReadKrb5 {
    public static void main(String[] args) throws Exception {
        sun.security.krb5.Config config = sun.security.krb5.Config.getInstance();
        String realm = config.getDefaultRealm();
        System.out.println(realm + " " + config.getKDCList(realm) + " " + config.get("domain_realm", args[0]));
    }
}
"""


@pytest.mark.interop
def test_java_reads_the_page_layout(tmp_path: Path) -> None:
    if shutil.which("javac") is None:
        pytest.skip("javac is not installed")
    conf = page_krb5_conf("COMPANYA.COM", "127.0.0.1:8888", "companya.com")
    conf_path = write_krb5_conf(tmp_path / "krb5.conf", conf)
    (tmp_path / "ReadKrb5.java").write_text(_JAVA_KRB5)
    export = "--add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED"
    compiled = run("javac", export, "-d", str(tmp_path), str(tmp_path / "ReadKrb5.java"))
    assert compiled.returncode == 0, compiled.stderr
    krb5_conf = f"-Djava.security.krb5.conf={conf_path}"
    result = run("java", export, krb5_conf, "-cp", str(tmp_path), "ReadKrb5", ".companya.com")
    assert result.stdout.strip() == "COMPANYA.COM 127.0.0.1:8888 COMPANYA.COM", result.stderr

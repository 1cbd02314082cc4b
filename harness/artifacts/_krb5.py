"""krb5.conf: the file of "Creating the Configuration File for Kerberos security", step 2.

The syntax is MIT's profile format, which Java's ``sun.security.krb5.Config`` (the UC
Connector's reader) also follows: ``[section]`` headers, ``name = value`` relations,
``name = {`` … ``}`` subsections, whole-line comments starting with ``#`` or ``;``.
Leading whitespace never matters — the page's sample indents its lines unevenly and both
readers accept it. A name given twice keeps both values; readers use the first one
(MIT's ``profile_get_string``, Java's ``Config.get``), and so does :attr:`Krb5Conf.libdefaults`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Union

from fakes._files import write_public_file

from ._errors import CorruptFileError, Krb5ConfSyntaxError, WrongFormatError
from ._formats import describe_format, detect_format
from ._reading import read_artifact_bytes

__all__ = [
    "Krb5Conf",
    "Krb5Value",
    "page_krb5_conf",
    "format_krb5_conf",
    "write_krb5_conf",
    "parse_krb5_conf",
    "read_krb5_conf",
]

# A relation's value: a string, or a subsection of further relations.
Krb5Value = Union[str, "dict[str, list[Krb5Value]]"]

# The page's sample carries this line, commented out, under [libdefaults].
PAGE_COMMENT = "#     default_checksum = rsa-md5"

_SECTION = re.compile(r"^\[(?P<name>[^\]]*)\](?P<rest>.*)$")
_ESCAPES = {"n": "\n", "t": "\t", "b": "\b", "\\": "\\", '"': '"'}


@dataclass
class Krb5Conf:
    """The sections the page uses, plus any others (``other``, in file order).

    ``realms`` maps a realm to its relations (``{"kdc": ["server1.example.com"]}``);
    values in ``realms`` and ``other`` are strings or nested subsections.
    """

    libdefaults: dict[str, str] = field(default_factory=dict)
    realms: dict[str, dict[str, list[Krb5Value]]] = field(default_factory=dict)
    domain_realm: dict[str, str] = field(default_factory=dict)
    other: dict[str, dict[str, list[Krb5Value]]] = field(default_factory=dict)


def page_krb5_conf(realm: str, kdc: str, domain: str) -> Krb5Conf:
    """The page's sample with the lab's values: default realm, one KDC, ``.domain`` → realm.

    Values are used as given (a scenario may pass a lower-case realm on purpose); the
    domain gets the page's leading dot.
    """
    return Krb5Conf(
        libdefaults={"default_realm": realm},
        realms={realm: {"kdc": [kdc]}},
        domain_realm={"." + domain.lstrip("."): realm},
    )


def format_krb5_conf(conf: Krb5Conf, *, page_style: bool = True) -> str:
    """The text of ``conf``.

    ``page_style`` reproduces the page's sample byte for byte for the page's values — its
    uneven indentation and the commented ``default_checksum = rsa-md5`` line included;
    otherwise the layout of MIT's krb5.conf(5) examples (headers at column 0, relations
    indented by four, a blank line between sections).
    """
    if page_style:
        lines = ["[libdefaults]"]
        lines += [f"    {name} = {_quote(value)}" for name, value in conf.libdefaults.items()]
        lines += [" " + PAGE_COMMENT, " [realms]"]
        for realm, relations in conf.realms.items():
            lines.append(f"       {realm} = {{")
            lines += _relations(relations, "        ")
            lines.append("    }")
        lines.append(" [domain_realm]")
        lines += [f"   {domain} = {_quote(realm)}" for domain, realm in conf.domain_realm.items()]
        for name, relations in conf.other.items():
            lines.append(f" [{name}]")
            lines += _relations(relations, "    ")
        return "\n".join(lines) + "\n"
    blocks = []
    if conf.libdefaults:
        blocks.append(["[libdefaults]"] + [f"    {n} = {_quote(v)}" for n, v in conf.libdefaults.items()])
    if conf.realms:
        realms = ["[realms]"]
        for realm, relations in conf.realms.items():
            realms += [f"    {realm} = {{", *_relations(relations, "        "), "    }"]
        blocks.append(realms)
    if conf.domain_realm:
        blocks.append(["[domain_realm]"] + [f"    {d} = {_quote(r)}" for d, r in conf.domain_realm.items()])
    for name, relations in conf.other.items():
        blocks.append([f"[{name}]", *_relations(relations, "    ")])
    return "\n\n".join("\n".join(block) for block in blocks) + "\n"


def _relations(relations: dict[str, list[Krb5Value]], indent: str) -> list[str]:
    lines = []
    for name, values in relations.items():
        for value in values:
            if isinstance(value, dict):
                lines += [f"{indent}{name} = {{", *_relations(value, indent + "    "), f"{indent}}}"]
            else:
                lines.append(f"{indent}{name} = {_quote(value)}")
    return lines


def _quote(value: str) -> str:
    """MIT writes a value in double quotes when it would not read back as it is."""
    if value and value == value.strip() and not value.startswith(("{", '"')):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{escaped}"'


def write_krb5_conf(path: Path | str | os.PathLike[str], conf: Krb5Conf, *, page_style: bool = True) -> Path:
    """Write ``conf`` (mode 0644: nothing secret in it); returns the path."""
    return write_public_file(Path(path), format_krb5_conf(conf, page_style=page_style).encode("utf-8"))


def read_krb5_conf(path: Path | str | os.PathLike[str]) -> Krb5Conf:
    """Read and parse a krb5.conf; a binary file is a :class:`WrongFormatError` saying what it is."""
    path = Path(path)
    data = read_artifact_bytes(path)
    fmt = detect_format(data)
    if fmt not in ("krb5.conf", "unknown", "empty"):
        raise WrongFormatError(f"this is {describe_format(fmt)}, not a krb5.conf", path, actual_format=fmt)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CorruptFileError(f"not a text file (byte {exc.start} is not UTF-8)", path) from exc
    return parse_krb5_conf(text, source=str(path))


def parse_krb5_conf(text: str, *, source: str = "krb5.conf") -> Krb5Conf:
    """Parse MIT profile syntax; errors are :class:`Krb5ConfSyntaxError` naming ``source`` and the line."""
    sections: dict[str, dict[str, list[Krb5Value]]] = {}
    current: dict[str, list[Krb5Value]] | None = None
    section_name = ""
    stack: list[tuple[dict[str, list[Krb5Value]], int]] = []  # open subsections and their lines

    def fail(message: str, line: int) -> Krb5ConfSyntaxError:
        return Krb5ConfSyntaxError(message, source=source, line=line)

    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            if stack:
                opened = stack[-1][1]
                raise fail(f"unbalanced '{{': the '{{' of line {opened} is not closed before this section", number)
            match = _SECTION.match(line)
            if match is None:
                raise fail("missing ']' in the section header", number)
            if match.group("rest").strip() not in ("", "*"):  # "*" is MIT's "final" flag
                raise fail(f"text after the section header: {match.group('rest').strip()!r}", number)
            section_name = match.group("name").strip()
            current = sections.setdefault(section_name, {})
            continue
        if line.startswith("}"):
            if not stack:
                raise fail("unbalanced '}': no '{' is open", number)
            if line[1:].strip() not in ("", "*"):
                raise fail(f"text after '}}': {line[1:].strip()!r}", number)
            stack.pop()
            continue
        if current is None:
            raise fail("a relation before the first [section] header", number)
        name, equals, value = line.partition("=")
        name, value = name.strip(), value.strip()
        if not equals:
            raise fail(f"missing '=': expected 'name = value', found {line!r}", number)
        if not name:
            raise fail("missing name before '='", number)
        if any(c.isspace() for c in name):
            raise fail(f"a name cannot contain spaces: {name!r}", number)
        target = stack[-1][0] if stack else current
        if value == "{":
            if not stack and section_name in ("libdefaults", "domain_realm"):
                raise fail(
                    f"this lab reads [{section_name}] as 'name = value' relations only, not subsections", number
                )
            subsection: dict[str, list[Krb5Value]] = {}
            target.setdefault(name, []).append(subsection)
            stack.append((subsection, number))
            continue
        if value.startswith("{"):
            raise fail("text after '{': a subsection's relations go on the following lines", number)
        if not stack and section_name == "realms":
            raise fail(f"in [realms], expected '{name} = {{' opening the realm's relations", number)
        target.setdefault(name, []).append(_unquote(value, lambda m: fail(m, number)))
    if stack:
        raise fail("unbalanced '{': no '}' closes it", stack[-1][1])
    # Subsections were refused above in [libdefaults] and [domain_realm], and string values
    # in [realms]: the types below hold.
    realms: dict[str, dict[str, list[Krb5Value]]] = {}
    for realm, blocks in sections.pop("realms", {}).items():
        merged = realms.setdefault(realm, {})
        for block in blocks:  # a realm given twice: its relations add up, as MIT's lookups see them
            for name, values in block.items():  # type: ignore[union-attr]
                merged.setdefault(name, []).extend(values)
    return Krb5Conf(
        libdefaults={name: str(values[0]) for name, values in sections.pop("libdefaults", {}).items()},
        realms=realms,
        domain_realm={name: str(values[0]) for name, values in sections.pop("domain_realm", {}).items()},
        other=sections,
    )


def _unquote(value: str, fail: Callable[[str], Krb5ConfSyntaxError]) -> str:
    """A double-quoted value with MIT's escapes (\\n \\t \\b \\\\ \\"); other values as they are."""
    if not value.startswith('"'):
        return value
    out = []
    i = 1
    while i < len(value):
        char = value[i]
        if char == '"':
            if value[i + 1 :].strip():
                raise fail(f"text after the closing quote: {value[i + 1:].strip()!r}")
            return "".join(out)
        if char == "\\" and i + 1 < len(value):
            out.append(_ESCAPES.get(value[i + 1], value[i + 1]))
            i += 2
            continue
        out.append(char)
        i += 1
    raise fail("a quoted value without its closing quote")

"""The UC Connector's command line, as the page writes it and as Windows splits it.

The page adds security options to the Application object's *Start Info > Command Line
Arguments* (and, for a start from ``startup.bat``, to that file):

- "Modifying Command Line Arguments for MTLS": ``-cert_store_file/-cert_store_pass/
  -cert_store_type pkcs12`` (the connector's own PFX) and ``-key_store_file/
  -key_store_pass/-key_store_type jks`` (the trust store);
- "Modifying Command Line Parameters for TLS": ``-krb_conf_file``, ``-cert_store_pass``,
  ``-cert_store_file`` (here the JKS trust store);
- the Genesys server's own ``-host``/``-port``/``-app`` (where Configuration Server is and
  which Application object to read) are already there.

Splitting follows the Microsoft C runtime (what the Java launcher on Windows uses):
whitespace separates, double quotes group, backslashes are literal except before a
quote (``2n`` backslashes + ``"`` → ``n`` backslashes and a quote toggle, ``2n+1`` →
``n`` backslashes and a literal ``"``), ``""`` inside quotes is a literal quote. So
``c:\\gcti\\lync_ucc_1.pfx`` needs no escaping and a path with spaces needs quotes.

The page's block pasted verbatim gives findings rather than errors (codes
``arg-unknown``, ``arg-missing-value``, ``arg-malformed``):

- ``-cert_store_<path to .pfx file on UCC host>`` — the option name glued to its value
  (the page dropped ``file``): malformed, did you mean ``-cert_store_file <path>``;
- ``-ket_store_type jks`` — an option the connector does not know: unknown, did you mean
  ``-key_store_type``;
- ``<password …>`` and the other angle-bracket placeholders left in place: no value;
- the page's explanation of the trust store (``—This file contains …`` and the two
  ``• $JAVA_HOME/lib/security/…`` bullets) pasted along: words that are no option,
  reported as one malformed run.

Assumptions where no Genesys source says how the connector reads its options: names are
case-sensitive; an option the connector does not know is passed over with the value
after it (Genesys servers accept options of other components on one command line), so it
is only reported when it looks like a typo of a known one; a known option given twice
keeps its last value. Line breaks count as spaces: *Command Line Arguments* is a one-line
field, and ``startup.bat`` continuation lines (``^``) join into one command.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, fields
from typing import Any, NamedTuple

from ._findings import Finding, Severity

__all__ = [
    "ConnectorArguments",
    "ArgumentFinding",
    "ParsedArguments",
    "KNOWN_OPTIONS",
    "parse_arguments",
    "format_arguments",
]

# Option → ConnectorArguments field, in the order format_arguments writes them: the
# Genesys server options first, then the page's additions in the page's order.
KNOWN_OPTIONS: dict[str, str] = {
    "-host": "host",
    "-port": "port",
    "-app": "app",
    "-cert_store_file": "cert_store_file",
    "-cert_store_pass": "cert_store_pass",
    "-cert_store_type": "cert_store_type",
    "-key_store_file": "key_store_file",
    "-key_store_pass": "key_store_pass",
    "-key_store_type": "key_store_type",
    "-krb_conf_file": "krb_conf_file",
}
_SECRET_OPTIONS = frozenset({"-cert_store_pass", "-key_store_pass"})
# Option families of the page: "-cert_store_" + something that is not file/pass/type is
# the page's "-cert_store_<path>" slip.
_FAMILIES = ("-cert_store_", "-key_store_", "-krb_conf_")
# Dashes a word processor or a web page puts where a hyphen was typed.
_TYPOGRAPHIC_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212"
_BULLETS = "\u2022\u25aa\u25cf\u00b7"
_MASK = "********"
# How a missing value is named in a hint (the page's own placeholders where it has them).
_VALUE_NAMES = {
    "host": "<Configuration Server host>",
    "port": "<Configuration Server port>",
    "app": "<Application object name>",
    "cert_store_file": "<path to .pfx file on UCC host>",
    "cert_store_pass": "<password>",
    "cert_store_type": "pkcs12",
    "key_store_file": "<path to the Java keystore file>",
    "key_store_pass": "<password to unlock the keystore file>",
    "key_store_type": "jks",
    "krb_conf_file": "<path to krb5.conf file>",
}
_MAX_SHOWN = 72


@dataclass(frozen=True, repr=False)
class ConnectorArguments:
    """The options the connector stand-in understands; ``None`` where not given.

    ``other`` keeps every other ``-name [value]`` in order (including typos such as
    ``-ket_store_type``), so that :func:`format_arguments` writes back what was read.
    Passwords stay out of ``repr``; :meth:`masked` gives a report-safe view.
    """

    host: str | None = None
    port: int | None = None
    app: str | None = None
    cert_store_file: str | None = None
    cert_store_pass: str | None = None
    cert_store_type: str | None = None
    key_store_file: str | None = None
    key_store_pass: str | None = None
    key_store_type: str | None = None
    krb_conf_file: str | None = None
    other: tuple[tuple[str, str | None], ...] = ()

    def masked(self) -> dict[str, Any]:
        """The arguments as JSON-able data with passwords replaced by a mask."""
        data: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.endswith("_pass") and value is not None:
                value = _MASK
            elif f.name == "other":
                value = [list(_masked_other(name, val)) for name, val in value]
            data[f.name] = value
        return data

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in self.masked().items() if value not in (None, []))
        return f"ConnectorArguments({shown})"


def _masked_other(name: str, value: str | None) -> tuple[str, str | None]:
    """An unrecognized option with any password in it masked.

    A mistyped password option still carries the password: as its value
    (``-cert_store_pas x``, ``–cert_store_pass x``) or glued to it (``-cert_store_pass=x``).
    """
    plain = "-" + name[1:] if name[:1] in _TYPOGRAPHIC_DASHES else name
    for option in _SECRET_OPTIONS:
        if plain.startswith(option) and len(plain) > len(option):
            name = name[: len(option)] + _MASK
    if value is not None and "pass" in name.lower():
        value = _MASK
    return name, value


@dataclass(frozen=True, kw_only=True)
class ArgumentFinding(Finding):
    """A problem with one option (or with a run of words that are no option).

    ``option`` is the option as written (``-ket_store_type``) or the stray text.
    """

    option: str


class ParsedArguments(NamedTuple):
    """What :func:`parse_arguments` read: the arguments and what is wrong with them.

    ``program`` is the executable of a ``startup.bat`` command line (``None`` for the
    Application object's *Command Line Arguments*, which hold arguments only).
    """

    arguments: ConnectorArguments
    findings: list[ArgumentFinding]
    program: str | None = None


@dataclass(frozen=True)
class _Token:
    text: str
    quoted: bool
    line: int
    # A "<placeholder" with no ">" before the end of its line (the page's -cert_store_pass).
    unclosed: bool = False

    @property
    def is_option(self) -> bool:
        return (
            not self.quoted
            and len(self.text) > 1
            and self.text[0] == "-"
            and (self.text[1].isalpha() or self.text[1] == "_")
        )

    @property
    def is_placeholder(self) -> bool:
        return not self.quoted and self.text.startswith("<")


def parse_arguments(text: str, *, program: bool = False) -> ParsedArguments:
    """Read a command line as the connector would, reporting what the page got wrong.

    ``program=True`` reads a ``startup.bat`` command: the first word is the executable.
    Never raises for bad input: every problem is an :class:`ArgumentFinding`.
    """
    tokens = _merge_placeholders(_tokenize(text))
    executable = None
    if program and tokens and not tokens[0].is_option:
        executable, tokens = tokens[0].text, tokens[1:]
    return _Parser(tokens).run(executable)


def format_arguments(arguments: ConnectorArguments, *, program: str | None = None, mask_passwords: bool = False) -> str:
    """Write ``arguments`` as one command line (Windows quoting), known options first.

    Known options follow :data:`KNOWN_OPTIONS`' order, then ``other`` as given;
    ``program`` prefixes a ``startup.bat`` command. ``mask_passwords`` is for display.
    """
    words: list[str] = [program] if program is not None else []
    for option, name in KNOWN_OPTIONS.items():
        value = getattr(arguments, name)
        if value is None:
            continue
        shown = _MASK if mask_passwords and option in _SECRET_OPTIONS else str(value)
        words += [option, shown]
    for option, value in arguments.other:
        if mask_passwords:
            option, value = _masked_other(option, value)
        words += [option] if value is None else [option, value]
    return " ".join(_quote(word) for word in words)


# -- splitting -----------------------------------------------------------------------------


def _continuation(text: str, i: int) -> int:
    """Length of a ``startup.bat`` line continuation (``^`` + line break) at ``i``, else 0."""
    if text[i] != "^":
        return 0
    if text.startswith("\r\n", i + 1):
        return 3
    return 2 if text.startswith("\n", i + 1) else 0


def _tokenize(text: str) -> list[_Token]:
    """Split like the Microsoft C runtime's ``parse_cmdline``, remembering each word's line."""
    tokens: list[_Token] = []
    i, n, line = 0, len(text), 1
    while i < n:
        c = text[i]
        if skip := _continuation(text, i):
            # The command goes on on the next line: one logical line.
            i += skip
            continue
        if c.isspace():
            line += c == "\n"
            i += 1
            continue
        start_line, word, quoted, in_quotes = line, [], False, False
        while i < n:
            c = text[i]
            if not in_quotes and (c.isspace() or _continuation(text, i)):
                break
            if c == "\\":
                j = i
                while j < n and text[j] == "\\":
                    j += 1
                count = j - i
                if j < n and text[j] == '"':
                    word.append("\\" * (count // 2))
                    if count % 2:
                        word.append('"')
                        i = j + 1
                    else:
                        i = j  # the quote toggles quoting below
                    continue
                word.append("\\" * count)
                i = j
                continue
            if c == '"':
                quoted = True
                if in_quotes and text[i + 1 : i + 2] == '"':
                    word.append('"')
                    i += 2
                    continue
                in_quotes = not in_quotes
                i += 1
                continue
            line += c == "\n"
            word.append(c)
            i += 1
        tokens.append(_Token("".join(word), quoted, start_line))
    return tokens


def _merge_placeholders(tokens: list[_Token]) -> list[_Token]:
    """Join ``<path to .pfx file on UCC host>`` (split at its spaces) back into one word.

    A placeholder left in the command line is one mistake, reported once; without a
    closing ``>`` on its line (the page's ``-cert_store_pass <password generated in …``)
    it runs to the end of the line.
    """
    merged: list[_Token] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        opened = token.text.rfind("<")
        if token.quoted or opened < 0 or ">" in token.text[opened:]:
            merged.append(token)
            i += 1
            continue
        parts, j = [token.text], i + 1
        while j < len(tokens) and tokens[j].line == token.line and not tokens[j].quoted:
            parts.append(tokens[j].text)
            j += 1
            if ">" in parts[-1]:
                break
        merged.append(_Token(" ".join(parts), False, token.line, unclosed=">" not in parts[-1]))
        i = j
    return merged


def _quote(word: str) -> str:
    """Quote one word so the Microsoft C runtime splits it back to exactly ``word``."""
    if word and not any(c.isspace() or c == '"' for c in word):
        return word
    out, backslashes = ['"'], 0
    for c in word:
        if c == "\\":
            backslashes += 1
            continue
        if c == '"':
            out.append("\\" * (2 * backslashes + 1) + '"')
        else:
            out.append("\\" * backslashes + c)
        backslashes = 0
    out.append("\\" * (2 * backslashes) + '"')
    return "".join(out)


# -- reading -------------------------------------------------------------------------------


def _shown(text: str) -> str:
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"


def _suggestion(name: str) -> str | None:
    """The known option ``name`` is probably a typo of (``-ket_store_type`` → ``-key_store_type``)."""
    lowered = name.lower()
    if lowered in KNOWN_OPTIONS:
        return lowered
    close = difflib.get_close_matches(lowered, KNOWN_OPTIONS, n=1, cutoff=0.8)
    return close[0] if close else None


def _glued(name: str) -> tuple[str, str] | None:
    """``(option, value)`` when ``name`` is an option with its value stuck to it.

    ``-cert_store_c:\\x.pfx`` and the page's ``-cert_store_<path to .pfx file on UCC
    host>`` (a family prefix, then something that is no option suffix but looks like a
    value), ``-cert_store_filec:\\x.pfx`` and ``-cert_store_pass=genesys`` (a whole
    option name, then more).
    """
    for option in KNOWN_OPTIONS:
        if name.startswith(option) and len(name) > len(option):
            return option, name[len(option) :].lstrip("=:")
    for family in _FAMILIES:
        rest = name[len(family) :]
        if name.startswith(family) and rest and (not rest.replace("_", "").isalnum() or rest.startswith("<")):
            return family + "file", rest
    return None


class _Parser:
    """One pass over the words; collects values, other options and findings."""

    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.i = 0
        self.values: dict[str, Any] = {}
        self.other: list[tuple[str, str | None]] = []
        self.findings: list[ArgumentFinding] = []
        self.stray: list[_Token] = []
        # The known option whose value the current stray run follows, if any: an
        # unquoted value with spaces ("c:\Program Files\...") splits that way.
        self.after_value: tuple[str, _Token] | None = None

    def run(self, program: str | None) -> ParsedArguments:
        while self.i < len(self.tokens):
            token = self.tokens[self.i]
            if token.is_option:
                self._flush_stray()
                self._option(token)
            elif (dashed := self._dashed_option(token)) is not None:
                self._flush_stray()
                self._typographic_dash(token, dashed)
            else:
                self.stray.append(token)
                self.i += 1
        self._flush_stray()
        return ParsedArguments(ConnectorArguments(**self.values, other=tuple(self.other)), self.findings, program)

    def _add(self, code: str, option: str, message: str, hint: str, severity: Severity = "error") -> None:
        self.findings.append(
            ArgumentFinding(code=code, option=_shown(option), message=message, hint=hint, severity=severity)
        )

    def _take_value(self) -> _Token | None:
        """The word after the option at ``self.i`` when it is a value, moving past both."""
        nxt = self.tokens[self.i + 1] if self.i + 1 < len(self.tokens) else None
        if nxt is None or nxt.is_option or self._dashed_option(nxt) is not None:
            self.i += 1
            return None
        self.i += 2
        return nxt

    def _option(self, token: _Token) -> None:
        name = token.text
        if name in KNOWN_OPTIONS:
            self._known(name)
            return
        glued = _glued(name)
        if glued is not None:
            option, value = glued
            if option in _SECRET_OPTIONS:
                shown_value = "<password>"
            elif value.startswith("<") and option.endswith("_file"):
                shown_value = "<path>"
            else:
                shown_value = value
            shown_name = _masked_other(name, None)[0]
            self._add(
                "arg-malformed",
                shown_name,
                f"{shown_name}: option name glued to its value; did you mean {option} {shown_value}? "
                f"The connector sees an option it does not know and no {option}.",
                f"Write the option and its value as two words: {option} {_quote(shown_value)}",
            )
            # Kept as written, so that format_arguments gives back the same command line.
            self.other.append((name, None))
            self.i += 1
            self.after_value = None
            return
        value = self._take_value()
        self.other.append((name, value.text if value is not None else None))
        self.after_value = None
        suggestion = _suggestion(name)
        if suggestion is not None:
            field_name = KNOWN_OPTIONS[suggestion]
            self._add(
                "arg-unknown",
                name,
                f"unknown option {name}; did you mean {suggestion}? The connector does not read it, "
                f"so {suggestion} is not set"
                + (" and Java's default store type (pkcs12) applies" if field_name.endswith("_type") else ""),
                f"Replace {name} with {suggestion}.",
                severity="warning" if field_name.endswith("_type") else "error",
            )

    def _known(self, name: str) -> None:
        value = self._take_value()
        field_name = KNOWN_OPTIONS[name]
        self.after_value = None
        if value is None:
            self._add(
                "arg-missing-value",
                name,
                f"{name} has no value: the next word is another option or the end of the line",
                f"Give {name} its value: {name} {_VALUE_NAMES.get(field_name, '<value>')}",
            )
            return
        if value.is_placeholder:
            unclosed = " (the page's text has no closing '>')" if value.unclosed else ""
            what = "password" if name in _SECRET_OPTIONS else "path" if name.endswith("_file") else "value"
            self._add(
                "arg-missing-value",
                name,
                f"{name} still holds the page's placeholder {_shown(value.text)!r}{unclosed}, not a {what}",
                f"Replace the placeholder with the real {what} (no angle brackets).",
            )
            return
        if field_name == "port":
            if not value.text.isdigit() or not 0 < int(value.text) <= 65535:
                self._add(
                    "arg-malformed",
                    name,
                    f"-port {value.text!r} is not a port number (1-65535)",
                    "Give Configuration Server's port number.",
                )
                return
            self.values[field_name] = int(value.text)
            self.after_value = (name, value)
            return
        self.values[field_name] = value.text
        self.after_value = (name, value)

    @staticmethod
    def _dashed_option(token: _Token) -> str | None:
        """The option a word means when its hyphen became a typographic dash (``–cert_store_file``)."""
        if token.quoted or len(token.text) < 2 or token.text[0] not in _TYPOGRAPHIC_DASHES:
            return None
        candidate = "-" + token.text[1:]
        if candidate in KNOWN_OPTIONS or _glued(candidate) is not None or _suggestion(candidate) is not None:
            return candidate
        return None

    def _typographic_dash(self, token: _Token, option: str) -> None:
        value = self._take_value()
        self.after_value = None
        self.other.append((token.text, value.text if value is not None else None))
        self._add(
            "arg-malformed",
            token.text,
            f"{token.text} starts with the dash U+{ord(token.text[0]):04X}, not a hyphen: "
            f"the connector does not see {option}",
            f"Type the option with a plain hyphen: {option}",
        )

    def _flush_stray(self) -> None:
        if not self.stray:
            return
        words, self.stray = self.stray, []
        text = " ".join(w.text for w in words)
        follows = self.after_value
        self.after_value = None
        if follows is not None and words[0].text[0] not in _TYPOGRAPHIC_DASHES + _BULLETS:
            option, value = follows
            if option in _SECRET_OPTIONS:
                self._add(
                    "arg-malformed",
                    option,
                    f"{len(words)} stray word(s) follow the value of {option}: a password with spaces must be in "
                    f"double quotes, so the connector reads only its first word",
                    f'Quote the whole password: {option} "<password>"',
                )
                return
            whole = " ".join([value.text, text])
            self._add(
                "arg-malformed",
                text,
                f"{text!r} follows the value of {option}: a value with spaces must be in double quotes, "
                f"so the connector reads {option} {value.text!r} and stray words",
                f"Quote the whole value: {option} {_quote(whole)}",
            )
            return
        prose = words[0].text[0] in _TYPOGRAPHIC_DASHES + _BULLETS
        where = "text pasted from the page's explanation" if prose else "words that belong to no option"
        self._add(
            "arg-malformed",
            text,
            f"{where}: {_shown(text)!r} ({len(words)} word{'s' if len(words) != 1 else ''}) is not an option; "
            "the connector gets it as stray arguments",
            "Remove it: only -option value pairs go into Command Line Arguments.",
        )

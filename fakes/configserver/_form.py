"""HTML form bodies, read strictly and sans I/O: bytes in, the fields or a reason out.

The console's forms post ``application/x-www-form-urlencoded`` bodies (WHATWG URL
Standard, "application/x-www-form-urlencoded parsing"). That standard's parser never
fails — it replaces bad UTF-8 with U+FFFD and lets the last of two equal names win — which
would store a changed password without a word. Here the same input is refused instead,
with its reason, as the JSON API refuses its bad bodies (:mod:`._json`):

Rule 1: the body is UTF-8 both before and after percent-decoding (a ``%ED%A0%80`` lone
surrogate or ``%FF`` is not text).
Rule 2: each field is ``name=value`` and is given once.
Rule 3: only the fields the form has are accepted; a missing required one is named.
Rule 4: at most :data:`MAX_FIELDS` fields.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import unquote_to_bytes

__all__ = ["FormError", "parse_form", "MAX_FIELDS"]

MAX_FIELDS = 32


class FormError(ValueError):
    """A form body that cannot be read; the message says why, in a user's terms."""


def _text(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormError(f"{what} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def parse_form(raw: bytes, *, allowed: Iterable[str], required: Iterable[str] = ()) -> dict[str, str]:
    """The fields of the urlencoded form ``raw`` by the module's rules (:class:`FormError`
    says why not). Fields in ``allowed`` but not sent are absent from the result."""
    allowed = frozenset(allowed)
    body = _text(raw, "the form body")
    fields: dict[str, str] = {}
    pairs = body.split("&") if body else []
    if len(pairs) > MAX_FIELDS:
        raise FormError(f"the form sends {len(pairs)} fields; a form here has at most {MAX_FIELDS}")
    for pair in pairs:
        if not pair:
            continue  # "a=1&&b=2": an empty piece is skipped, as browsers' parsers do
        name_part, sep, value_part = pair.partition("=")
        if not sep:
            raise FormError(f"the form field {name_part[:40]!r} has no '='")
        name = _text(unquote_to_bytes(name_part.replace("+", " ")), "a field name")
        value = _text(unquote_to_bytes(value_part.replace("+", " ")), f"the value of field {name[:40]!r}")
        if name not in allowed:
            raise FormError(f"unknown form field {name[:40]!r} (this form has: {', '.join(sorted(allowed))})")
        if name in fields:
            raise FormError(f"the form field {name!r} is given twice; give each field once")
        fields[name] = value
    missing = [name for name in required if name not in fields]
    if missing:
        raise FormError(f"the form lacks the field(s) {', '.join(missing)}")
    return fields

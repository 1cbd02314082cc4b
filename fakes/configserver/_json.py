"""Request bodies as JSON, read strictly and sans I/O: bytes in, a document or a reason out.

Every rule below turns input that Python's :func:`json.loads` would accept (or choke on
with an internal error) into a :class:`JsonBodyError` whose message says what is wrong
and where, so the API can answer 400 with it.

Rule 1: the body is UTF-8 (RFC 8259 section 8.1: "JSON text exchanged between systems
that are not part of a closed ecosystem MUST be encoded using UTF-8"), without a byte
order mark (the same section: senders "MUST NOT add" one; receivers may ignore it or not —
here it is refused, so the sender learns).

Rule 2: no string holds a lone UTF-16 surrogate. ``"\\ud800"`` is valid JSON syntax, but
RFC 8259 section 8.2 leaves the meaning of such a string "unpredictable", and it cannot be
written as UTF-8 — into the database or anywhere else. The error names the field.

Rule 3: ``NaN``, ``Infinity`` and ``-Infinity`` are not JSON (RFC 8259 section 6), and a
number is at most :data:`MAX_NUMBER_DIGITS` digits long — no field of a configuration
object is longer, and Python's ``int`` refuses past 4300 digits with its own words.

Rule 4: an object names each key once. RFC 8259 section 4 says names "SHOULD be
unique" and that receivers differ on duplicates; here the second ``"name"`` is refused
rather than silently winning.

Rule 5: documents nest at most :data:`MAX_DEPTH` levels. A configuration object needs four
(the object, ``options``, its ``property`` list, one property).
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["JsonBodyError", "parse_json_body", "MAX_DEPTH", "MAX_NUMBER_DIGITS"]

MAX_DEPTH = 16
MAX_NUMBER_DIGITS = 40
_SURROGATE = re.compile("[\ud800-\udfff]")


class JsonBodyError(ValueError):
    """A request body that is not usable JSON; the message says why, in a client's terms."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise JsonBodyError(f"request body names {key!r} twice in one object; give each field once")
        document[key] = value
    return document


def _number(text: str, convert: type[int] | type[float]) -> int | float:
    if len(text) > MAX_NUMBER_DIGITS:
        raise JsonBodyError(
            f"request body holds a number of {len(text)} characters ({text[:20]}...); "
            f"numbers here are at most {MAX_NUMBER_DIGITS}"
        )
    return convert(text)


def _no_constant(name: str) -> Any:
    raise JsonBodyError(f"request body holds {name}, which is not a JSON value (RFC 8259 section 6)")


def _field(path: str) -> str:
    return path or "the top level"


def _check_tree(document: Any) -> None:
    """Rules 2 and 5, walked without recursion so no document can exhaust the stack."""
    pending: list[tuple[Any, str, int]] = [(document, "", 0)]
    while pending:
        value, path, depth = pending.pop()
        if isinstance(value, str):
            found = _SURROGATE.search(value)
            if found:
                raise JsonBodyError(
                    f"{_field(path)}: the string holds a lone UTF-16 surrogate "
                    f"(\\u{ord(found.group()):04x} at character {found.start()}), which is not Unicode text"
                )
            continue
        if not isinstance(value, (dict, list)):
            continue
        if depth == MAX_DEPTH:
            raise JsonBodyError(f"{_field(path)}: request body nests deeper than {MAX_DEPTH} levels")
        if isinstance(value, list):
            pending.extend((item, f"{path}[{index}]", depth + 1) for index, item in enumerate(value))
            continue
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            if _SURROGATE.search(key):
                raise JsonBodyError(
                    f"a field name under {_field(path)} holds a lone UTF-16 surrogate, which is not Unicode text"
                )
            pending.append((item, where, depth + 1))


def parse_json_body(raw: bytes) -> Any:
    """The JSON document in ``raw``, by the module's rules; :class:`JsonBodyError` says why not."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raise JsonBodyError("request body starts with a byte order mark; JSON senders must not add one (RFC 8259 section 8.1)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JsonBodyError(f"request body is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        document = json.loads(
            text,
            object_pairs_hook=_unique_keys,
            parse_int=lambda digits: _number(digits, int),
            parse_float=lambda digits: _number(digits, float),
            parse_constant=_no_constant,
        )
    except json.JSONDecodeError as exc:
        raise JsonBodyError(
            f"request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        # The parser recurses once per level; far past MAX_DEPTH it runs out of stack first.
        raise JsonBodyError(f"request body nests deeper than {MAX_DEPTH} levels") from None
    _check_tree(document)
    return document

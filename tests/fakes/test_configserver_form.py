"""The console's strict form reader at each rule's edge: what browsers send is read, what
a lenient parser would silently change is refused in words."""

from __future__ import annotations

import pytest

from fakes.configserver._form import MAX_FIELDS, FormError, parse_form

FIELDS = ("csrf", "section", "key", "value")


def test_a_browsers_form_is_read_with_its_encodings() -> None:
    raw = b"csrf=abc&section=Microsoft-OCS&key=password&value=Genesys%231+%C3%A9%F0%9F%94%91"
    assert parse_form(raw, allowed=FIELDS) == {
        "csrf": "abc", "section": "Microsoft-OCS", "key": "password", "value": "Genesys#1 é🔑"}


def test_empty_values_and_pieces_are_kept_and_skipped_as_browsers_do() -> None:
    assert parse_form(b"value=&&csrf=x", allowed=FIELDS) == {"value": "", "csrf": "x"}
    assert parse_form(b"", allowed=FIELDS) == {}


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"value=%FF", "the value of field 'value' is not UTF-8 text"),
        (b"value=%ED%A0%80", "not UTF-8 text"),  # a lone surrogate, percent-encoded
        (b"value=\xff", "the form body is not UTF-8 text"),
        (b"csrf=a&csrf=b", "the form field 'csrf' is given twice"),
        (b"csrf=a&admin=1", "unknown form field 'admin' (this form has: csrf, key, section, value)"),
        (b"csrf", "the form field 'csrf' has no '='"),
    ],
)
def test_what_a_lenient_parser_would_change_is_refused(raw: bytes, words: str) -> None:
    with pytest.raises(FormError, match=None) as caught:
        parse_form(raw, allowed=FIELDS)
    assert words in str(caught.value)


def test_required_fields_are_named_and_the_field_count_is_bounded() -> None:
    with pytest.raises(FormError, match="lacks the field.s. csrf"):
        parse_form(b"value=1", allowed=FIELDS, required=("csrf",))
    many = "&".join(["value="] * (MAX_FIELDS + 1)).encode()
    with pytest.raises(FormError, match=f"sends {MAX_FIELDS + 1} fields"):
        parse_form(many, allowed=FIELDS)

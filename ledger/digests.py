"""Content-Digest (RFC 9530), on a strict RFC 8941 structured-field parser.

A partner's signed request covers the ``Content-Digest`` field rather than the
body itself (RFC 9421 signs header fields and derived components, never the
content), so the body is only as safe as this check: the digest must parse,
must name an algorithm we trust (``sha-256`` or ``sha-512``; others such as the
deprecated ``md5`` or ``sha`` are ignored, as RFC 9530 section 2 allows) and
every trusted digest present must match the bytes received.

The parser implements the part of RFC 8941 that both ``Content-Digest`` and the
``Signature-Input``/``Signature`` fields need: a Dictionary of Items and Inner
Lists with Parameters, and all bare item types except the RFC 9651 additions.
It lives here rather than in ``httpsig`` because ``httpsig`` builds on this
module. It is strict on purpose, beyond RFC 8941 in two places: a duplicate
dictionary key or parameter is refused (RFC 8941 keeps the last, which lets
an intermediary and a verifier read different values), and a byte sequence
must be canonical, padded base64. Every refusal is a :class:`FieldSyntaxError`;
no other exception escapes the parser, whatever the input.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any


class FieldSyntaxError(ValueError):
    """A structured field value is not strict RFC 8941."""


class Token(str):
    """An sf-token (unquoted), told apart from an sf-string."""


BareItem = int | Decimal | str | bytes | bool
Params = tuple[tuple[str, BareItem], ...]


@dataclass(frozen=True)
class Item:
    """A bare item with its parameters, in the order they were given."""

    value: BareItem
    params: Params = ()


@dataclass(frozen=True)
class InnerList:
    """A parenthesised list of items with the list's own parameters."""

    items: tuple[Item, ...]
    params: Params = ()


Member = Item | InnerList

_LCALPHA = frozenset("abcdefghijklmnopqrstuvwxyz")
_DIGIT = frozenset("0123456789")
_ALPHA = _LCALPHA | frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_KEY_FIRST = _LCALPHA | {"*"}
_KEY_REST = _LCALPHA | _DIGIT | frozenset("_-.*")
_TOKEN_REST = _ALPHA | _DIGIT | frozenset("!#$%&'*+-.^_`|~:/")
_BASE64 = _ALPHA | _DIGIT | frozenset("+/=")
_SP = frozenset(" ")
_OWS = frozenset(" \t")
_MAX_INTEGER = 999_999_999_999_999


class _Cursor:
    """The input and a position in it; ``peek`` is "" at the end (never raises)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def take(self) -> str:
        char = self.peek()
        self.pos += len(char)
        return char

    def skip(self, chars: frozenset[str]) -> None:
        while self.peek() in chars:  # "" is never in a set of characters
            self.pos += 1

    def done(self) -> bool:
        return self.pos >= len(self.text)


def parse_dictionary(text: str) -> dict[str, Member]:
    """An RFC 8941 Dictionary (section 4.2.2), strictly; keys keep their order."""
    if not text.isascii():
        raise FieldSyntaxError("a structured field is ASCII only")
    cursor = _Cursor(text)
    cursor.skip(_SP)
    members: dict[str, Member] = {}
    while not cursor.done():
        key = _key(cursor)
        if key in members:
            raise FieldSyntaxError(f"dictionary key {key!r} appears twice")
        if cursor.peek() == "=":
            cursor.take()
            members[key] = _member(cursor)
        else:
            members[key] = Item(True, _params(cursor))
        cursor.skip(_OWS)
        if cursor.done():
            return members
        if cursor.take() != ",":
            raise FieldSyntaxError(f"expected ',' at position {cursor.pos - 1}")
        cursor.skip(_OWS)
        if cursor.done():
            raise FieldSyntaxError("a dictionary may not end with ','")
    return members


def _member(cursor: _Cursor) -> Member:
    return _inner_list(cursor) if cursor.peek() == "(" else _item(cursor)


def _inner_list(cursor: _Cursor) -> InnerList:
    cursor.take()
    items: list[Item] = []
    while True:
        cursor.skip(_SP)
        if cursor.peek() == ")":
            cursor.take()
            return InnerList(tuple(items), _params(cursor))
        if cursor.done():
            raise FieldSyntaxError("an inner list is not closed")
        items.append(_item(cursor))
        if cursor.peek() not in {" ", ")"}:
            raise FieldSyntaxError(f"expected ' ' or ')' at position {cursor.pos}")


def _item(cursor: _Cursor) -> Item:
    return Item(_bare(cursor), _params(cursor))


def _params(cursor: _Cursor) -> Params:
    params: list[tuple[str, BareItem]] = []
    while cursor.peek() == ";":
        cursor.take()
        cursor.skip(_SP)
        key = _key(cursor)
        value: BareItem = True
        if cursor.peek() == "=":
            cursor.take()
            value = _bare(cursor)
        if any(key == seen for seen, _ in params):
            raise FieldSyntaxError(f"parameter {key!r} appears twice")
        params.append((key, value))
    return tuple(params)


def _key(cursor: _Cursor) -> str:
    if cursor.peek() not in _KEY_FIRST:
        raise FieldSyntaxError(f"expected a key at position {cursor.pos}")
    start = cursor.pos
    cursor.skip(_KEY_REST)
    return cursor.text[start:cursor.pos]


def _bare(cursor: _Cursor) -> BareItem:
    char = cursor.peek()
    if char == "-" or char in _DIGIT:
        return _number(cursor)
    if char == '"':
        return _string(cursor)
    if char == "*" or char in _ALPHA:
        start = cursor.pos
        cursor.take()
        cursor.skip(_TOKEN_REST)
        return Token(cursor.text[start:cursor.pos])
    if char == ":":
        return _byte_sequence(cursor)
    if char == "?":
        cursor.take()
        flag = cursor.take()
        if flag not in ("0", "1"):
            raise FieldSyntaxError("a boolean is ?0 or ?1")
        return flag == "1"
    raise FieldSyntaxError(f"expected an item at position {cursor.pos}")


def _number(cursor: _Cursor) -> int | Decimal:
    sign = -1 if cursor.peek() == "-" else 1
    if sign < 0:
        cursor.take()
    if cursor.peek() not in _DIGIT:
        raise FieldSyntaxError("a number needs a digit")
    start, decimal = cursor.pos, False
    while cursor.peek() in _DIGIT or (cursor.peek() == "." and not decimal):
        if cursor.take() == ".":
            if cursor.pos - start > 13:
                raise FieldSyntaxError("a decimal has at most 12 integer digits")
            decimal = True
        if cursor.pos - start > (16 if decimal else 15):
            raise FieldSyntaxError("a number is too long")
    digits = cursor.text[start:cursor.pos]
    if not decimal:
        return sign * int(digits)
    whole, fraction = digits.split(".")
    if not 1 <= len(fraction) <= 3:
        raise FieldSyntaxError("a decimal has one to three fractional digits")
    return sign * Decimal(digits)


def _string(cursor: _Cursor) -> str:
    cursor.take()
    chars: list[str] = []
    while not cursor.done():
        char = cursor.take()
        if char == "\\":
            char = cursor.take()
            if char not in ('"', "\\"):
                raise FieldSyntaxError("only \\\" and \\\\ may be escaped in a string")
        elif char == '"':
            return "".join(chars)
        elif not " " <= char <= "~":
            raise FieldSyntaxError("a string holds printable ASCII only")
        chars.append(char)
    raise FieldSyntaxError("a string is not closed")


def _byte_sequence(cursor: _Cursor) -> bytes:
    cursor.take()
    end = cursor.text.find(":", cursor.pos)
    if end < 0:
        raise FieldSyntaxError("a byte sequence is not closed")
    encoded = cursor.text[cursor.pos:end]
    cursor.pos = end + 1
    if not all(char in _BASE64 for char in encoded):
        raise FieldSyntaxError("a byte sequence holds base64 only")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise FieldSyntaxError("a byte sequence is not valid base64") from None
    if base64.b64encode(raw).decode("ascii") != encoded:
        raise FieldSyntaxError("a byte sequence must be canonical, padded base64")
    return raw


# -- serialising (RFC 8941 section 4.1), the types signatures need ------------------

def serialize_key(key: str) -> str:
    """A dictionary or parameter key, checked."""
    if not key or key[0] not in _KEY_FIRST or not all(c in _KEY_REST for c in key[1:]):
        raise FieldSyntaxError(f"{key!r} is not a structured-field key")
    return key


def serialize_bare(value: BareItem) -> str:
    """A bare item: boolean, integer, string, token or byte sequence."""
    if isinstance(value, bool):
        return "?1" if value else "?0"
    if isinstance(value, int):
        if abs(value) > _MAX_INTEGER:
            raise FieldSyntaxError("an integer has at most 15 digits")
        return str(value)
    if isinstance(value, bytes):
        return ":" + base64.b64encode(value).decode("ascii") + ":"
    if isinstance(value, Token):
        if not value or _bare(_Cursor(value)) != value:
            raise FieldSyntaxError(f"{value!r} is not a token")
        return str(value)
    if isinstance(value, str):
        if not all(" " <= char <= "~" for char in value):
            raise FieldSyntaxError("a string holds printable ASCII only")
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise FieldSyntaxError(f"cannot serialise {type(value).__name__}")


def serialize_params(params: Sequence[tuple[str, BareItem]]) -> str:
    """``;key=value`` for each parameter, in order (``;key`` for true)."""
    return "".join(f";{serialize_key(key)}" if value is True
                   else f";{serialize_key(key)}={serialize_bare(value)}"
                   for key, value in params)


def serialize_inner_list(items: Sequence[Item], params: Sequence[tuple[str, BareItem]]) -> str:
    """``(item item ...)`` followed by the list's parameters."""
    inner = " ".join(serialize_bare(item.value) + serialize_params(item.params)
                     for item in items)
    return f"({inner}){serialize_params(params)}"


# -- Content-Digest ---------------------------------------------------------------

ALGORITHMS: Mapping[str, Callable[..., Any]] = {"sha-256": hashlib.sha256,
                                                "sha-512": hashlib.sha512}
"""The digest algorithms trusted here (RFC 9530 section 5, status "Active")."""


class DigestError(ValueError):
    """A Content-Digest refused; ``rule`` is digest_malformed, digest_unsupported
    or digest_mismatch."""

    def __init__(self, rule: str, detail: str) -> None:
        super().__init__(detail)
        self.rule = rule
        self.detail = detail


def content_digest(body: bytes, algorithms: Sequence[str] = ("sha-256",)) -> str:
    """The Content-Digest field value for ``body``, e.g. ``sha-256=:...:``."""
    unknown = [name for name in algorithms if name not in ALGORITHMS]
    if unknown or not algorithms:
        raise DigestError("digest_unsupported", f"cannot compute {unknown or 'no'} digests")
    return ", ".join(f"{name}={serialize_bare(ALGORITHMS[name](body).digest())}"
                     for name in algorithms)


def parse_content_digest(value: str) -> dict[str, bytes]:
    """The trusted digests a Content-Digest value carries; others are ignored."""
    try:
        members = parse_dictionary(value)
    except FieldSyntaxError as error:
        raise DigestError("digest_malformed", f"Content-Digest: {error}") from None
    digests: dict[str, bytes] = {}
    for name, member in members.items():
        if name not in ALGORITHMS:
            continue
        if not (isinstance(member, Item) and isinstance(member.value, bytes)) or member.params:
            raise DigestError("digest_malformed", f"{name} must be a bare byte sequence")
        if len(member.value) != ALGORITHMS[name]().digest_size:
            raise DigestError("digest_malformed", f"{name} digest has the wrong length")
        digests[name] = member.value
    if not digests:
        raise DigestError("digest_unsupported",
                          f"Content-Digest has none of {', '.join(ALGORITHMS)}")
    return digests


def digest_findings(value: str, body: bytes) -> list[str]:
    """What is wrong with ``value`` as the digest of ``body``; empty when it holds."""
    try:
        check_content_digest(value, body)
    except DigestError as error:
        return [f"{error.rule}: {error.detail}"]
    return []


def check_content_digest(value: str, body: bytes) -> dict[str, bytes]:
    """The verified digests, or :class:`DigestError` if any trusted one differs."""
    digests = parse_content_digest(value)
    wrong = [name for name, expected in digests.items()
             if not hmac.compare_digest(expected, ALGORITHMS[name](body).digest())]
    if wrong:
        raise DigestError("digest_mismatch",
                          f"the content does not match its {' and '.join(wrong)} digest")
    return digests


__all__ = ["ALGORITHMS", "DigestError", "FieldSyntaxError", "InnerList", "Item", "Member",
           "Token", "check_content_digest", "content_digest", "digest_findings",
           "parse_content_digest", "parse_dictionary", "serialize_bare",
           "serialize_inner_list", "serialize_key", "serialize_params"]

"""HTTP Message Signatures (RFC 9421) with Ed25519, for partner organisations.

A partner's back office signs each request with its own Ed25519 key instead of
sending a bearer secret: a copied request is worth nothing once its short
validity window has passed, and its nonce stops a replay inside the window.
This module holds only the pure parts: the signature base (RFC 9421 section
2.5), signing, and a verifier that refuses with one :class:`SignatureError`
naming a stable ``rule``. It takes a :class:`RequestParts` rather than a
framework request so that it stays free of flask; ``web`` builds one.

Supported: the derived components ``@method``, ``@target-uri``, ``@authority``,
``@scheme``, ``@request-target``, ``@path`` and ``@query``, and HTTP header
fields by lowercased name, without component parameters (``sf``, ``key``,
``bs``, ``req``, ``tr``) and with ``alg`` ``ed25519`` only. Anything else a
signature asks for is refused as ``signature_malformed``, never guessed at.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger.digests import (
    DigestError,
    FieldSyntaxError,
    InnerList,
    Item,
    Member,
    check_content_digest,
    parse_dictionary,
    serialize_bare,
    serialize_inner_list,
    serialize_key,
)

ALGORITHM: Final = "ed25519"
DERIVED: Final = frozenset({"@method", "@target-uri", "@authority", "@scheme",
                            "@request-target", "@path", "@query"})
PARAMETERS: Final[Mapping[str, type]] = {"created": int, "expires": int, "keyid": str,
                                         "nonce": str, "alg": str, "tag": str}
RULES: Final = frozenset({"signature_missing", "signature_malformed", "component_missing",
                          "expired", "validity_too_long", "unknown_key", "replayed",
                          "bad_signature", "alg_mismatch", "digest_mismatch"})
CLOCK_SKEW_SECONDS: Final = 60
MAX_NONCE_LENGTH: Final = 128
_DEFAULT_PORTS: Final = {"http": "80", "https": "443"}
_FIELD_NAME = re.compile(r"[a-z0-9!#$%&'*+.^_`|~-]+")
_METHOD = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
_HOST_PORT = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~%!$&'()*+,;=-]+)(?::([0-9]*))?")
_OBS_FOLD = re.compile(r"[ \t]*\r?\n[ \t]+")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


class SignatureError(ValueError):
    """A signed request refused; ``rule`` is one of :data:`RULES`.

    ``verify`` checks in this order: both fields present (signature_missing),
    parseable and resolvable (signature_malformed), required components covered
    (component_missing), created and expires present and close enough
    (validity_too_long), inside the window (expired), alg (alg_mismatch), a
    nonce (signature_malformed), keyid (unknown_key), the signature (bad_signature), a covered
    content-digest against the body (digest_mismatch), the nonce (replayed).
    """

    def __init__(self, rule: str, detail: str) -> None:
        super().__init__(f"{rule}: {detail}")
        self.rule = rule
        self.detail = detail


@dataclass(frozen=True)
class RequestParts:
    """What a signature can cover, free of any web framework.

    ``headers`` maps a field name to its field lines in order (a lone string is
    one line); names are lowercased on construction, so lookups are
    case-insensitive. ``target_uri`` is the absolute URI as the client sent it.
    """

    method: str
    target_uri: str
    headers: Mapping[str, list[str]]
    body: bytes = b""

    def __post_init__(self) -> None:
        merged: dict[str, list[str]] = {}
        for name, lines in self.headers.items():
            merged.setdefault(name.lower(), []).extend([lines] if isinstance(lines, str)
                                                       else lines)
        object.__setattr__(self, "headers", merged)


@dataclass(frozen=True)
class VerifiedSignature:
    """A signature that passed every check; what the caller may log or record."""

    label: str
    key_id: str
    created: int
    expires: int
    nonce: str
    components: tuple[str, ...]
    signature: bytes
    signature_base_sha256: str


def _malformed(detail: str) -> SignatureError:
    return SignatureError("signature_malformed", detail)


# -- component values (RFC 9421 sections 2.1 and 2.2) ---------------------------

def component_value(name: str, request: RequestParts) -> str:
    """The canonical value of one covered component of ``request``."""
    if name.startswith("@"):
        return _derived_value(name, request)
    if not _FIELD_NAME.fullmatch(name):
        raise _malformed(f"{name!r} is not a lowercase field name")
    lines = request.headers.get(name)
    if lines is None:
        raise _malformed(f"the covered field {name!r} is not in the request")
    value = ", ".join(_OBS_FOLD.sub(" ", line).strip(" \t") for line in lines)
    if not value.isascii() or _CONTROL.search(value):
        raise _malformed(f"the field {name!r} holds characters a signature cannot cover")
    return value


def _derived_value(name: str, request: RequestParts) -> str:
    if name not in DERIVED:
        raise _malformed(f"the derived component {name!r} is not supported")
    if name == "@method":
        if not _METHOD.fullmatch(request.method):
            raise _malformed("the method is not an HTTP token")
        return request.method
    if not request.target_uri.isascii() or not request.target_uri.isprintable() \
            or " " in request.target_uri:
        raise _malformed("the target URI is not printable ASCII")
    scheme, authority, path, query = _split_target(request.target_uri)
    return {"@target-uri": request.target_uri, "@authority": authority, "@scheme": scheme,
            "@request-target": path if query is None else f"{path}?{query}",
            "@path": path, "@query": f"?{query or ''}"}[name]


def _split_target(uri: str) -> tuple[str, str, str, str | None]:
    """(scheme, normalised authority, path, query or None) of an absolute URI."""
    scheme, separator, rest = uri.partition("://")
    if not separator or not _SCHEME.fullmatch(scheme) or "#" in rest:
        raise _malformed("the target URI must be absolute, without a fragment")
    scheme = scheme.lower()
    cut = min([i for i in (rest.find("/"), rest.find("?")) if i >= 0], default=len(rest))
    matched = _HOST_PORT.fullmatch(rest[:cut])
    if matched is None:
        raise _malformed("the target URI has no usable authority")
    host, port = matched.group(1).lower(), matched.group(2)
    if port:
        port = str(int(port))
    authority = host if not port or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    path, question, query = rest[cut:].partition("?")
    return scheme, authority, path or "/", query if question else None


# -- the signature base (RFC 9421 section 2.5) -------------------------------------

def signature_params(components: Sequence[str], params: Mapping[str, int | str]) -> str:
    """The ``@signature-params`` value: the covered components and parameters."""
    for key, value in params.items():
        kind = PARAMETERS.get(key)
        if kind is None:
            raise _malformed(f"the signature parameter {key!r} is not supported")
        if kind is int and (type(value) is not int or value < 0):
            raise _malformed(f"{key} must be a non-negative integer")
        if kind is str and type(value) is not str:
            raise _malformed(f"{key} must be a string")
    try:
        return serialize_inner_list([Item(name) for name in components], list(params.items()))
    except FieldSyntaxError as error:
        raise _malformed(str(error)) from None


def signature_base(components: Sequence[str], params: Mapping[str, int | str],
                   request: RequestParts) -> str:
    """The exact string that is signed: one ``"name": value`` line per component,
    then the ``"@signature-params"`` line; no trailing newline."""
    if len(set(components)) != len(components):
        raise _malformed("a component is covered twice")
    if "@signature-params" in components:
        raise _malformed("@signature-params may not be a covered component")
    lines = [f'"{name}": {component_value(name, request)}' for name in components]
    lines.append(f'"@signature-params": {signature_params(components, params)}')
    return "\n".join(lines)


def sign(request: RequestParts, components: Sequence[str], key_id: str,
         private_key: Ed25519PrivateKey, created: int, expires: int | None = None,
         nonce: str | None = None, label: str = "sig1", *, alg: bool = False,
         tag: str | None = None) -> tuple[str, str]:
    """The ``Signature-Input`` and ``Signature`` field values for ``request``.

    Parameters appear in the order created, expires, keyid, nonce, alg, tag,
    each only when given (``alg`` adds ``alg="ed25519"``).
    """
    params: dict[str, int | str] = {"created": created}
    if expires is not None:
        params["expires"] = expires
    params["keyid"] = key_id
    if nonce is not None:
        params["nonce"] = nonce
    if alg:
        params["alg"] = ALGORITHM
    if tag is not None:
        params["tag"] = tag
    base = signature_base(components, params, request)
    try:
        label = serialize_key(label)
    except FieldSyntaxError as error:
        raise _malformed(str(error)) from None
    signature = private_key.sign(base.encode("ascii"))
    return (f"{label}={signature_params(components, params)}",
            f"{label}={serialize_bare(signature)}")


# -- verifying (RFC 9421 section 3.2) ------------------------------------------------

def verify(request: RequestParts, resolve_key: Callable[[str], Ed25519PublicKey | None],
           now: int, required_components: set[str], *,
           seen_nonce: Callable[[str, str], bool], max_validity_seconds: int = 300,
           label: str | None = None) -> VerifiedSignature:
    """Check the request's signature against every rule, or raise :class:`SignatureError`.

    ``now`` is in Unix seconds. ``seen_nonce(key_id, nonce)`` is asked last, only
    for an otherwise valid signature, so it may record the nonce as it answers.
    Without ``label`` the request must carry exactly one signature.
    """
    label, entry, signature = _chosen(request, label)
    components, params = _covered(entry)
    base = signature_base(components, params, request)
    missing = sorted(required_components - set(components))
    if missing:
        raise SignatureError("component_missing", f"the signature must cover {missing}")
    created, expires = _window(params, now, max_validity_seconds)
    key_id, nonce = _identity(params)
    public_key = resolve_key(key_id)
    if public_key is None:
        raise SignatureError("unknown_key", f"no active key {key_id!r}")
    try:
        public_key.verify(signature, base.encode("ascii"))
    except InvalidSignature:
        raise SignatureError("bad_signature", "the signature does not verify") from None
    if "content-digest" in components:
        _check_digest(request)
    if seen_nonce(key_id, nonce):
        raise SignatureError("replayed", f"nonce {nonce!r} was already used")
    return VerifiedSignature(label, key_id, created, expires, nonce, tuple(components),
                             signature, hashlib.sha256(base.encode("ascii")).hexdigest())


def _parsed(request: RequestParts, name: str) -> dict[str, Member]:
    try:
        return parse_dictionary(", ".join(request.headers.get(name.lower(), [])))
    except FieldSyntaxError as error:
        raise _malformed(f"{name}: {error}") from None


def _chosen(request: RequestParts, label: str | None) -> tuple[str, InnerList, bytes]:
    inputs, signatures = _parsed(request, "Signature-Input"), _parsed(request, "Signature")
    if not inputs or not signatures:
        raise SignatureError("signature_missing", "Signature-Input and Signature are required")
    if label is None:
        if len(inputs) != 1:
            raise _malformed("the request carries several signatures")
        label = next(iter(inputs))
    entry, value = inputs.get(label), signatures.get(label)
    if entry is None:
        raise SignatureError("signature_missing", f"no signature labelled {label!r}")
    if not isinstance(entry, InnerList):
        raise _malformed("a Signature-Input member must be an inner list")
    if not (isinstance(value, Item) and isinstance(value.value, bytes)) or value.params:
        raise _malformed(f"Signature has no byte sequence labelled {label!r}")
    if len(value.value) != 64:
        raise SignatureError("bad_signature", "an ed25519 signature is 64 bytes")
    return label, entry, value.value


def _covered(entry: InnerList) -> tuple[list[str], dict[str, int | str]]:
    names: list[str] = []
    for item in entry.items:
        if type(item.value) is not str or item.params:
            raise _malformed("covered components are plain strings without parameters")
        names.append(item.value)
    params: dict[str, int | str] = {}
    for key, value in entry.params:
        if type(value) not in (int, str):
            raise _malformed("signature parameters are integers or strings")
        params[key] = value  # type: ignore[assignment]
    return names, params


def _window(params: Mapping[str, int | str], now: int, max_validity: int) -> tuple[int, int]:
    created, expires = params.get("created"), params.get("expires")
    if not isinstance(created, int) or not isinstance(expires, int):
        raise SignatureError("validity_too_long", "created and expires are both required")
    if expires < created:
        raise _malformed("expires is before created")
    if expires - created > max_validity:
        raise SignatureError("validity_too_long",
                             f"a signature may be valid for at most {max_validity} s")
    if now > expires or created > now + CLOCK_SKEW_SECONDS:
        raise SignatureError("expired", f"valid from {created} to {expires}, now is {now}")
    return created, expires


def _identity(params: Mapping[str, int | str]) -> tuple[str, str]:
    """(keyid, nonce), once the algorithm is known to be ours."""
    if params.get("alg", ALGORITHM) != ALGORITHM:
        raise SignatureError("alg_mismatch", f"only alg {ALGORITHM!r} is accepted")
    key_id, nonce = params.get("keyid"), params.get("nonce")
    if not isinstance(nonce, str) or not 0 < len(nonce) <= MAX_NONCE_LENGTH:
        raise _malformed(f"a nonce of 1-{MAX_NONCE_LENGTH} characters is required")
    if not isinstance(key_id, str):
        raise SignatureError("unknown_key", "the keyid parameter is required")
    return key_id, nonce


def _check_digest(request: RequestParts) -> None:
    try:
        check_content_digest(", ".join(request.headers.get("content-digest", [])),
                             request.body)
    except DigestError as error:
        raise SignatureError("digest_mismatch", error.detail) from None


__all__ = ["ALGORITHM", "CLOCK_SKEW_SECONDS", "DERIVED", "MAX_NONCE_LENGTH", "PARAMETERS",
           "RULES", "RequestParts", "SignatureError", "VerifiedSignature", "component_value",
           "sign", "signature_base", "signature_params", "verify"]

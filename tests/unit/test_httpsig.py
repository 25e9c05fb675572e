"""HTTP Message Signatures (RFC 9421) with Ed25519: the RFC's vectors, then each refusal.

The vectors are RFC 9421's own: the test request of Appendix B.2, the
``test-key-ed25519`` key of Appendix B.1.4 (JWK ``d`` and ``x``), the Ed25519
example of Appendix B.2.6 (Ed25519 is deterministic, so the signature must
match byte for byte), the signature bases of section 2.5 and Appendices B.2.1
and B.2.3 (RSA-PSS signatures are randomised, so only their bases are pinned),
and the component values of sections 2.1 and 2.2.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.httpsig import (
    RULES,
    RequestParts,
    SignatureError,
    component_value,
    sign,
    signature_base,
    signature_params,
    verify,
)


def b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


JWK_D = "n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU"  # RFC 9421 B.1.4 (private)
JWK_X = "JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs"  # RFC 9421 B.1.4 (public)
RFC_KEY = Ed25519PrivateKey.from_private_bytes(b64url(JWK_D))
RFC_PUBLIC = Ed25519PublicKey.from_public_bytes(b64url(JWK_X))
RFC_SIGNATURE = ("wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQ"
                 "v5lIp5WPpBKRCw==")
SHA512_DIGEST = ("sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BN"
                 "NyealdVLvRwEmTHWXvJwew==:")
B26_COMPONENTS = ["date", "@method", "@path", "@authority", "content-type", "content-length"]
B26_BASE = "\n".join([
    '"date": Tue, 20 Apr 2021 02:07:55 GMT',
    '"@method": POST',
    '"@path": /foo',
    '"@authority": example.com',
    '"content-type": application/json',
    '"content-length": 18',
    '"@signature-params": ("date" "@method" "@path" "@authority" "content-type" '
    '"content-length");created=1618884473;keyid="test-key-ed25519"'])
NOW = 1_700_000_000
COVERED = ["@method", "@target-uri", "content-digest", "content-type"]


def rfc_request(**changes: Any) -> RequestParts:
    """The ``test-request`` of RFC 9421 Appendix B.2, sent over HTTPS."""
    parts: dict[str, Any] = {
        "method": "POST", "target_uri": "https://example.com/foo?param=Value&Pet=dog",
        "headers": {"Host": ["example.com"], "Date": ["Tue, 20 Apr 2021 02:07:55 GMT"],
                    "Content-Type": ["application/json"], "Content-Digest": [SHA512_DIGEST],
                    "Content-Length": ["18"]},
        "body": b'{"hello": "world"}'}
    parts.update(changes)
    return RequestParts(**parts)


def with_headers(request: RequestParts, **fields: str) -> RequestParts:
    """``request`` with some field lines set (underscores become dashes)."""
    headers = dict(request.headers)
    headers.update({name.replace("_", "-"): [value] for name, value in fields.items()})
    return RequestParts(request.method, request.target_uri, headers, request.body)


# -- the RFC's vectors ---------------------------------------------------------------

def test_the_rfc_test_key_pair_matches_its_published_public_half():
    assert RFC_KEY.public_key().public_bytes_raw() == RFC_PUBLIC.public_bytes_raw()


def test_the_b26_signature_base_is_reproduced_byte_for_byte():
    params = {"created": 1618884473, "keyid": "test-key-ed25519"}
    assert signature_base(B26_COMPONENTS, params, rfc_request()) == B26_BASE


def test_signing_the_b26_request_gives_the_published_fields_byte_for_byte():
    signature_input, signature = sign(rfc_request(), B26_COMPONENTS, "test-key-ed25519",
                                      RFC_KEY, 1618884473, label="sig-b26")
    assert signature_input == ('sig-b26=("date" "@method" "@path" "@authority" '
                               '"content-type" "content-length");created=1618884473'
                               ';keyid="test-key-ed25519"')
    assert signature == f"sig-b26=:{RFC_SIGNATURE}:"
    assert RFC_KEY.sign(B26_BASE.encode()) == base64.b64decode(RFC_SIGNATURE)


def test_the_published_b26_signature_verifies_with_the_published_public_key():
    RFC_PUBLIC.verify(base64.b64decode(RFC_SIGNATURE), B26_BASE.encode())


def test_the_section_2_5_example_signature_base_is_reproduced():
    components = ["@method", "@authority", "@path", "content-digest", "content-length",
                  "content-type"]
    assert signature_base(components, {"created": 1618884473, "keyid": "test-key-rsa-pss"},
                          rfc_request()) == "\n".join([
        '"@method": POST', '"@authority": example.com', '"@path": /foo',
        f'"content-digest": {SHA512_DIGEST}', '"content-length": 18',
        '"content-type": application/json',
        '"@signature-params": ("@method" "@authority" "@path" "content-digest" '
        '"content-length" "content-type");created=1618884473;keyid="test-key-rsa-pss"'])


def test_the_b21_minimal_signature_base_is_reproduced():
    params = {"created": 1618884473, "keyid": "test-key-rsa-pss",
              "nonce": "b3k2pp5k7z-50gnwp.yemd"}
    assert signature_base([], params, rfc_request()) == (
        '"@signature-params": ();created=1618884473;keyid="test-key-rsa-pss"'
        ';nonce="b3k2pp5k7z-50gnwp.yemd"')


def test_the_b23_full_coverage_signature_base_is_reproduced():
    components = ["date", "@method", "@path", "@query", "@authority", "content-type",
                  "content-digest", "content-length"]
    assert signature_base(components, {"created": 1618884473, "keyid": "test-key-rsa-pss"},
                          rfc_request()) == "\n".join([
        '"date": Tue, 20 Apr 2021 02:07:55 GMT', '"@method": POST', '"@path": /foo',
        '"@query": ?param=Value&Pet=dog', '"@authority": example.com',
        '"content-type": application/json', f'"content-digest": {SHA512_DIGEST}',
        '"content-length": 18',
        '"@signature-params": ("date" "@method" "@path" "@query" "@authority" '
        '"content-type" "content-digest" "content-length");created=1618884473'
        ';keyid="test-key-rsa-pss"'])


def test_field_values_follow_section_2_1():
    request = RequestParts("GET", "https://www.example.com/", {
        "Host": ["www.example.com"], "Date": ["Tue, 20 Apr 2021 02:07:56 GMT"],
        "X-OWS-Header": ["   Leading and trailing whitespace.   "],
        "X-Obs-Fold-Header": ["Obsolete\r\n    line folding."],
        "Cache-Control": ["max-age=60"], "cache-control": ["   must-revalidate"],
        "Example-Dict": [" a=1,    b=2;x=1;y=2,   c=(a   b   c)"], "X-Empty-Header": [""]})
    assert {name: component_value(name, request) for name in (
        "host", "date", "x-ows-header", "x-obs-fold-header", "cache-control",
        "example-dict", "x-empty-header")} == {
        "host": "www.example.com", "date": "Tue, 20 Apr 2021 02:07:56 GMT",
        "x-ows-header": "Leading and trailing whitespace.",
        "x-obs-fold-header": "Obsolete line folding.",
        "cache-control": "max-age=60, must-revalidate",
        "example-dict": "a=1,    b=2;x=1;y=2,   c=(a   b   c)", "x-empty-header": ""}
    assert signature_base(["x-empty-header"], {}, request).startswith('"x-empty-header": \n')


def test_derived_components_follow_section_2_2():
    request = RequestParts("POST", "https://www.example.com/path?param=value",
                           {"Host": ["www.example.com"]})
    assert {name: component_value(name, request) for name in (
        "@method", "@target-uri", "@authority", "@scheme", "@request-target", "@path",
        "@query")} == {
        "@method": "POST", "@target-uri": "https://www.example.com/path?param=value",
        "@authority": "www.example.com", "@scheme": "https",
        "@request-target": "/path?param=value", "@path": "/path", "@query": "?param=value"}


@pytest.mark.parametrize(("uri", "query"), [
    ("http://www.example.com/path?param=value&foo=bar&baz=bat%2Dman",
     "?param=value&foo=bar&baz=bat%2Dman"),
    ("http://www.example.com/path?queryString", "?queryString"),
    ("http://www.example.com/path", "?"),
])
def test_the_query_keeps_percent_encoding_and_is_a_lone_question_mark_when_absent(uri, query):
    request = RequestParts("POST", uri, {})
    assert component_value("@query", request) == query
    assert component_value("@scheme", request) == "http"


@pytest.mark.parametrize(("uri", "authority", "path", "target"), [
    ("https://Example.COM:443/a", "example.com", "/a", "/a"),
    ("http://example.com:80", "example.com", "/", "/"),
    ("https://example.com:8443/?", "example.com:8443", "/", "/?"),
    ("HTTPS://[2001:DB8::1]:443/x?y", "[2001:db8::1]", "/x", "/x?y"),
])
def test_authority_and_path_are_normalised(uri, authority, path, target):
    request = RequestParts("GET", uri, {})
    assert component_value("@authority", request) == authority
    assert component_value("@path", request) == path
    assert component_value("@request-target", request) == target


# -- signing and verifying -------------------------------------------------------------

PARTNER_KEY = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"partner").digest())
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"other").digest())


def signed(request: RequestParts | None = None, *, components: list[str] | None = None,
           created: int = NOW - 10, expires: int | None = NOW + 200,
           nonce: str | None = "n-1", key: Ed25519PrivateKey = PARTNER_KEY,
           key_id: str = "partner-1", alg: bool = True) -> RequestParts:
    """``request`` with Signature-Input and Signature added under label sig1."""
    request = request or rfc_request()
    signature_input, signature = sign(request, components or COVERED, key_id, key, created,
                                      expires, nonce, alg=alg)
    return with_headers(request, signature_input=signature_input, signature=signature)


def signed_with(params: dict[str, Any], request: RequestParts | None = None) -> RequestParts:
    """A request signed with exactly ``params`` (for parameters sign() never writes)."""
    request = request or rfc_request()
    base = signature_base(COVERED, params, request)
    signature = base64.b64encode(PARTNER_KEY.sign(base.encode())).decode()
    return with_headers(request, signature_input=f"sig1={signature_params(COVERED, params)}",
                        signature=f"sig1=:{signature}:")


def keys(key_id: str) -> Ed25519PublicKey | None:
    return PARTNER_KEY.public_key() if key_id == "partner-1" else None


def never_seen(seen: list[tuple[str, str]]) -> Callable[[str, str], bool]:
    def seen_nonce(key_id: str, nonce: str) -> bool:
        seen.append((key_id, nonce))
        return False
    return seen_nonce


def check(request: RequestParts, *, now: int = NOW, required: set[str] | None = None,
          seen_nonce: Callable[[str, str], bool] | None = None, **kwargs: Any) -> Any:
    return verify(request, keys, now, set(COVERED) if required is None else required,
                  seen_nonce=seen_nonce or never_seen([]), **kwargs)


def refusal(request: RequestParts, **kwargs: Any) -> str:
    """The rule ``verify`` refuses ``request`` with."""
    with pytest.raises(SignatureError) as caught:
        check(request, **kwargs)
    assert caught.value.rule in RULES
    return caught.value.rule


def test_a_signed_request_verifies_and_says_what_was_checked():
    seen: list[tuple[str, str]] = []
    verified = check(signed(), seen_nonce=never_seen(seen))
    base = signature_base(COVERED, {"created": NOW - 10, "expires": NOW + 200,
                                    "keyid": "partner-1", "nonce": "n-1",
                                    "alg": "ed25519"}, rfc_request())
    assert (verified.label, verified.key_id, verified.created, verified.expires,
            verified.nonce, verified.components) == (
        "sig1", "partner-1", NOW - 10, NOW + 200, "n-1", tuple(COVERED))
    assert verified.signature == PARTNER_KEY.sign(base.encode())
    assert verified.signature_base_sha256 == hashlib.sha256(base.encode()).hexdigest()
    assert seen == [("partner-1", "n-1")]


def test_header_names_are_case_insensitive_and_alg_may_be_left_out():
    request = signed(alg=False)
    shouted = RequestParts(request.method, request.target_uri,
                           {name.upper(): lines for name, lines in request.headers.items()},
                           request.body)
    assert check(shouted).key_id == "partner-1"


def test_a_label_picks_one_of_several_signatures():
    first = signed()
    second_input, second = sign(first, ["@method"], "partner-1", PARTNER_KEY, NOW, NOW + 5,
                                "n-2", label="sig2")
    both = RequestParts(first.method, first.target_uri, {
        **first.headers, "signature-input": first.headers["signature-input"] + [second_input],
        "signature": first.headers["signature"] + [second]}, first.body)
    assert check(both, label="sig2", required={"@method"}).nonce == "n-2"
    assert refusal(both) == "signature_malformed"


@pytest.mark.parametrize("fields", [{}, {"signature_input": 'sig1=("@method");created=1'},
                                    {"signature": "sig1=:AAAA:"},
                                    {"signature_input": "", "signature": ""}])
def test_a_request_without_both_signature_fields_is_refused(fields):
    assert refusal(with_headers(rfc_request(), **fields)) == "signature_missing"


def test_a_label_that_is_not_there_is_a_missing_signature():
    assert refusal(signed(), label="sig9") == "signature_missing"


GOOD = f';created={NOW};expires={NOW + 10};keyid="partner-1";nonce="n"'
SIXTY_FOUR = "sig1=:" + "A" * 86 + "==:"


@pytest.mark.parametrize(("signature_input", "signature"), [
    ("sig1=(", SIXTY_FOUR),
    ('sig1="@method"', SIXTY_FOUR),                         # not an inner list
    (f'sig1=("@method"){GOOD}', 'sig1="AAAA"'),             # not a byte sequence
    (f'sig1=("@method"){GOOD}', "sig1=:" + "A" * 88 + ":;x"),  # parameters on it
    (f'sig1=("@method"){GOOD}', "sig2=" + SIXTY_FOUR[5:]),  # no signature for sig1
    (f'sig1=("@method" "@method"){GOOD}', SIXTY_FOUR),      # covered twice
    (f'sig1=("@method";req){GOOD}', SIXTY_FOUR),            # component parameter
    (f"sig1=(date){GOOD}", SIXTY_FOUR),                     # a token, not a string
    (f"sig1=(@method){GOOD}", SIXTY_FOUR),                  # not an item at all
    (f'sig1=("@query-param"){GOOD}', SIXTY_FOUR),           # unsupported derived
    (f'sig1=("@status"){GOOD}', SIXTY_FOUR),
    (f'sig1=("@signature-params"){GOOD}', SIXTY_FOUR),
    (f'sig1=("Content-Type"){GOOD}', SIXTY_FOUR),           # not lowercase
    (f'sig1=("x-absent"){GOOD}', SIXTY_FOUR),               # not in the request
    (f'sig1=("@method"){GOOD};keyid=partner-1', SIXTY_FOUR),  # keyid twice
    ('sig1=("@method");created=1;keyid=partner-1', SIXTY_FOUR),  # keyid as a token
    ('sig1=("@method");created="1"', SIXTY_FOUR),          # created as a string
    ('sig1=("@method");created=1.5', SIXTY_FOUR),
    ('sig1=("@method");created=-1', SIXTY_FOUR),
    ('sig1=("@method");created=?1', SIXTY_FOUR),
    (f'sig1=("@method"){GOOD};colour="red"', SIXTY_FOUR),  # unknown parameter
    (f'sig1=("@method"){GOOD}, sig2=("@method"){GOOD}', SIXTY_FOUR),  # several, no label
])
def test_malformed_signature_fields_are_refused(signature_input, signature):
    request = with_headers(rfc_request(), signature_input=signature_input, signature=signature)
    assert refusal(request, required=set()) == "signature_malformed"


@pytest.mark.parametrize("nonce", [None, "", "n" * 129])
def test_a_signature_without_a_usable_nonce_is_refused(nonce):
    assert refusal(signed(nonce=nonce)) == "signature_malformed"


def test_a_required_component_left_uncovered_is_refused():
    request = signed(components=["@method", "content-type"])
    assert refusal(request) == "component_missing"


def test_a_signature_valid_longer_than_allowed_is_refused():
    assert check(signed(created=NOW - 100, expires=NOW + 200)).expires == NOW + 200
    assert refusal(signed(created=NOW - 101, expires=NOW + 200)) == "validity_too_long"
    assert refusal(signed(created=NOW - 10, expires=NOW + 50),
                   max_validity_seconds=30) == "validity_too_long"


def test_a_signature_without_created_or_expires_is_refused():
    assert refusal(signed(expires=None)) == "validity_too_long"
    params = {"expires": NOW + 10, "keyid": "partner-1", "nonce": "n"}
    assert refusal(signed_with(params)) == "validity_too_long"


def test_expires_before_created_is_malformed():
    params = {"created": NOW + 10, "expires": NOW + 5, "keyid": "partner-1", "nonce": "n"}
    assert refusal(signed_with(params)) == "signature_malformed"


def test_a_signature_past_its_expiry_is_refused():
    request = signed(created=NOW - 300, expires=NOW)
    assert check(request).expires == NOW
    assert refusal(request, now=NOW + 1) == "expired"


def test_a_signature_created_in_the_future_beyond_the_skew_is_refused():
    assert check(signed(created=NOW + 60, expires=NOW + 120)).created == NOW + 60
    assert refusal(signed(created=NOW + 61, expires=NOW + 120)) == "expired"


def test_a_key_the_resolver_does_not_know_is_refused():
    assert refusal(signed(key_id="partner-2")) == "unknown_key"
    params = {"created": NOW, "expires": NOW + 10, "nonce": "n"}
    assert refusal(signed_with(params)) == "unknown_key"


def test_an_algorithm_other_than_ed25519_is_refused():
    params = {"created": NOW, "expires": NOW + 10, "keyid": "partner-1", "nonce": "n",
              "alg": "rsa-pss-sha512"}
    assert refusal(signed_with(params)) == "alg_mismatch"


def test_a_signature_by_another_key_is_refused_and_burns_no_nonce():
    seen: list[tuple[str, str]] = []
    assert refusal(signed(key=OTHER_KEY), seen_nonce=never_seen(seen)) == "bad_signature"
    assert seen == []


def test_a_covered_header_changed_after_signing_is_refused():
    request = with_headers(signed(), content_type="text/plain")
    assert refusal(request) == "bad_signature"


def test_a_changed_target_or_method_is_refused():
    request = signed()
    moved = RequestParts(request.method, "https://example.com/bar", request.headers,
                         request.body)
    assert refusal(moved) == "bad_signature"
    assert refusal(RequestParts("PUT", request.target_uri, request.headers,
                                request.body)) == "bad_signature"


def test_a_signature_of_the_wrong_length_is_refused():
    request = with_headers(signed(), signature="sig1=:AAAA:")
    assert refusal(request) == "bad_signature"


def test_a_body_altered_after_signing_is_a_digest_mismatch():
    request = signed()
    altered = RequestParts(request.method, request.target_uri, request.headers,
                           b'{"hello": "mallory"}')
    assert refusal(altered) == "digest_mismatch"


def test_a_signed_but_useless_digest_is_a_digest_mismatch():
    request = signed(with_headers(rfc_request(), content_digest="md5=:AAAA:"))
    assert refusal(request) == "digest_mismatch"


def test_a_replayed_nonce_is_refused():
    assert refusal(signed(), seen_nonce=lambda key_id, nonce: True) == "replayed"


def test_a_field_value_with_a_line_break_cannot_be_covered():
    request = with_headers(rfc_request(), content_type="application/json\n\"@method\": GET")
    with pytest.raises(SignatureError) as caught:
        signature_base(["content-type"], {}, request)
    assert caught.value.rule == "signature_malformed"


@pytest.mark.parametrize("uri", ["/foo", "https://user@example.com/", "https://ex ample.com/",
                                 "https://example.com/#frag", "https://example.com:x/",
                                 "https:///path", "https://example.com/\u00e9"])
def test_a_target_uri_that_cannot_be_normalised_is_refused(uri):
    with pytest.raises(SignatureError) as caught:
        component_value("@authority", RequestParts("GET", uri, {}))
    assert caught.value.rule == "signature_malformed"


def test_signing_refuses_what_it_cannot_serialise():
    for label in ("Sig1", "1sig", ""):
        with pytest.raises(SignatureError):
            sign(rfc_request(), ["@method"], "k", PARTNER_KEY, NOW, label=label)
    with pytest.raises(SignatureError):
        sign(rfc_request(), ["@method"], 'k\n', PARTNER_KEY, NOW)


# -- fuzzing: nothing but SignatureError, whatever arrives -------------------------------

_SF_TEXT = st.text(alphabet=st.sampled_from(list('sig1=()";:@-abcdeklmnoprty?*, \t\\/+09AZ')),
                   max_size=80)


@settings(max_examples=300)
@given(signature_input=st.one_of(st.text(max_size=80), _SF_TEXT),
       signature=st.one_of(st.text(max_size=80), _SF_TEXT))
def test_random_signature_fields_are_refused_only_with_signature_error(signature_input,
                                                                        signature):
    request = with_headers(rfc_request(), signature_input=signature_input, signature=signature)
    with pytest.raises(SignatureError):
        check(request, required=set())


@settings(max_examples=200)
@given(components=st.lists(st.sampled_from(sorted(COVERED) + ["@path", "@query", "date",
                                                              "@scheme", "x-gone"]),
                           max_size=5),
       params=st.text(alphabet=st.sampled_from(list(';=created"expiresnoncekeyid0123-')),
                      max_size=40),
       method=st.text(max_size=6), uri=st.text(max_size=30))
def test_random_components_and_targets_are_refused_only_with_signature_error(
        components, params, method, uri):
    listed = " ".join(f'"{name}"' for name in components)
    request = RequestParts(method, uri, {**rfc_request().headers,
                                         "signature-input": [f"sig1=({listed}){params}"],
                                         "signature": ["sig1=:" + "A" * 86 + "==:"]})
    with pytest.raises(SignatureError):
        check(request, required=set())

"""Content-Digest (RFC 9530) and the strict structured-field parser under it.

The digests are RFC 9530's own examples (Appendix D, and RFC 9421 Appendix B.2,
which uses the same body); each was also recomputed from the body with
hashlib. The parser is pinned on RFC 8941 cases and fuzzed: whatever the
input, it refuses with its own error class and nothing else.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.digests import (
    DigestError,
    FieldSyntaxError,
    InnerList,
    Item,
    Token,
    check_content_digest,
    content_digest,
    digest_findings,
    parse_content_digest,
    parse_dictionary,
    serialize_bare,
    serialize_inner_list,
)

BODY = b'{"hello": "world"}'
SHA256 = "X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE="
SHA512 = ("WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLv"
          "RwEmTHWXvJwew==")


def test_the_rfc_example_body_has_the_published_sha256_digest():
    assert content_digest(BODY) == f"sha-256=:{SHA256}:"


def test_the_rfc_example_body_has_the_published_sha512_digest():
    assert content_digest(BODY, ("sha-512",)) == f"sha-512=:{SHA512}:"


def test_both_digests_can_be_sent_together_in_the_order_asked():
    assert content_digest(BODY, ("sha-256", "sha-512")) == \
        f"sha-256=:{SHA256}:, sha-512=:{SHA512}:"


def test_an_untrusted_algorithm_cannot_be_computed():
    with pytest.raises(DigestError) as caught:
        content_digest(BODY, ("md5",))
    assert caught.value.rule == "digest_unsupported"


def test_the_published_digests_check_against_the_body():
    value = f"sha-256=:{SHA256}:, sha-512=:{SHA512}:"
    assert check_content_digest(value, BODY).keys() == {"sha-256", "sha-512"}
    assert digest_findings(value, BODY) == []


def test_a_changed_body_is_a_mismatch():
    with pytest.raises(DigestError) as caught:
        check_content_digest(f"sha-512=:{SHA512}:", b'{"hello": "world!"}')
    assert caught.value.rule == "digest_mismatch"
    assert digest_findings(f"sha-512=:{SHA512}:", b"") == [
        "digest_mismatch: the content does not match its sha-512 digest"]


def test_one_wrong_digest_among_good_ones_is_a_mismatch():
    wrong = content_digest(b"other", ("sha-512",))
    with pytest.raises(DigestError) as caught:
        check_content_digest(f"sha-256=:{SHA256}:, {wrong}", BODY)
    assert caught.value.rule == "digest_mismatch"


def test_unknown_algorithms_are_ignored_next_to_a_trusted_one():
    value = f"md5=:AAAA:, unixsum=1, sha-256=:{SHA256}:, foo=(a b);x"
    assert parse_content_digest(value) == {"sha-256": check_content_digest(value, BODY)
                                           ["sha-256"]}


@pytest.mark.parametrize("value", ["", "md5=:AAAA:", "sha=:AAAA:, id-sha-256=:AAAA:"])
def test_a_digest_field_without_a_trusted_algorithm_is_refused(value):
    with pytest.raises(DigestError) as caught:
        parse_content_digest(value)
    assert caught.value.rule == "digest_unsupported"


@pytest.mark.parametrize("value", [
    f"sha-256={SHA256}",                      # not a byte sequence
    f'sha-256="{SHA256}"',                    # a string, not bytes
    f"sha-256=:{SHA256}:;q=1",                # parameters on a digest
    "sha-256=:AAAA:",                         # wrong length for sha-256
    f"sha-256=:{SHA512}:",                    # a sha-512 digest under sha-256
    f"sha-256=:{SHA256.rstrip('=')}:",        # unpadded base64
    f"sha-256=:{SHA256}:, sha-256=:{SHA256}:",  # the same key twice
    f"SHA-256=:{SHA256}:",                    # keys are lowercase
    f"sha-256=:{SHA256}:,",                   # trailing comma
    f"sha-256=:{SHA256}: sha-512=:{SHA512}:",  # missing comma
    f"sha-256=({SHA256})",                    # an inner list
])
def test_a_malformed_digest_field_is_refused(value):
    with pytest.raises(DigestError) as caught:
        parse_content_digest(value)
    assert caught.value.rule == "digest_malformed"
    assert digest_findings(value, BODY)[0].startswith("digest_malformed: ")


def test_the_rfc_8941_dictionary_example_parses_to_its_members():
    assert parse_dictionary('en="Applepie", da=:w4ZibGV0w6ZydGU=:') == {
        "en": Item("Applepie"), "da": Item("Æbletærte".encode())}
    assert parse_dictionary("a=?0, b, c; foo=bar") == {
        "a": Item(False), "b": Item(True), "c": Item(True, (("foo", Token("bar")),))}
    assert parse_dictionary("rating=1.5, feelings=(joy sadness)") == {
        "rating": Item(Decimal("1.5")),
        "feelings": InnerList((Item(Token("joy")), Item(Token("sadness"))))}


def test_spaces_around_members_and_tabs_between_them_are_allowed():
    assert parse_dictionary("  a=1 ,\tb=-2  ") == {"a": Item(1), "b": Item(-2)}


@pytest.mark.parametrize("value", [
    "a=1, a=2", "a;x=1;x=2", "a=1,", ",a=1", "a=1 b=2", "\ta=1", "A=1", "a=", "a=(1 2",
    "a=(1\t2)", 'a="unterminated', 'a="bad \\n escape"', "a=\"tab\tinside\"", "a=?2",
    "a=1234567890123456", "a=1234567890123.1", "a=1.2345", "a=1.", "a=-", "a=:AAA:",
    "a=:AA==AA==:", "a=:!!!!:", "a=:AAAA", "a=\u00e9", "a=@1", "a=%\"x\"", "a=1;",
])
def test_malformed_structured_fields_are_refused(value):
    with pytest.raises(FieldSyntaxError):
        parse_dictionary(value)


def test_inner_lists_serialise_as_rfc_9421_writes_them():
    items = [Item("@method"), Item("content-digest")]
    assert serialize_inner_list(items, [("created", 1618884473), ("keyid", 'k"\\1')]) == \
        '("@method" "content-digest");created=1618884473;keyid="k\\"\\\\1"'


@pytest.mark.parametrize("value", ["caf\u00e9", "line\nbreak", Token("not a token"),
                                   10 ** 15, Decimal("1.5")])
def test_values_that_cannot_be_serialised_are_refused(value):
    with pytest.raises(FieldSyntaxError):
        serialize_bare(value)


@given(st.text())
def test_any_text_is_parsed_or_refused_with_field_syntax_error_only(text):
    try:
        parse_dictionary(text)
    except FieldSyntaxError:
        pass


@given(st.text(alphabet=st.sampled_from(list('sha-256=:+/=,;() "?01ab\\\t'))))
def test_digest_like_text_is_parsed_or_refused_with_digest_error_only(text):
    try:
        parse_content_digest(text)
    except DigestError:
        pass


_keys = st.from_regex(r"[a-z*][a-z0-9_.*-]{0,6}", fullmatch=True)
_bare = st.one_of(st.integers(-10 ** 15 + 1, 10 ** 15 - 1), st.booleans(), st.binary(),
                  st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126)),
                  st.from_regex(r"[A-Za-z*][A-Za-z0-9!#$%&'*+.^_`|~:/-]{0,6}",
                                fullmatch=True).map(Token))
_items = st.builds(Item, _bare, st.dictionaries(_keys, _bare, max_size=3)
                   .map(lambda d: tuple(d.items())))


def typed(items: tuple[Item, ...]) -> list[object]:
    """Values with their types, so that a token never passes for a string."""
    return [(type(item.value), item.value, [(k, type(v), v) for k, v in item.params])
            for item in items]


@given(st.dictionaries(_keys, st.lists(_items, max_size=4), min_size=1, max_size=4))
def test_serialised_inner_lists_parse_back_to_the_same_values(members):
    text = ", ".join(f"{key}={serialize_inner_list(items, [])}"
                     for key, items in members.items())
    parsed = parse_dictionary(text)
    assert list(parsed) == list(members)
    for key, items in members.items():
        member = parsed[key]
        assert isinstance(member, InnerList)
        assert typed(member.items) == typed(tuple(items))

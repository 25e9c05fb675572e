"""Signed notes and checkpoints: published Go vectors, tampering, malformed text.

Why: a checkpoint is the log's signature on its history. If a forged,
altered or garbled one is ever accepted, or makes the verifier crash instead
of refusing, the audit trail proves nothing. Interop is pinned to the vectors
of Go's note package (golang/go src/cmd/go/internal/note/note_test.go and
example_test.go, the code behind golang.org/x/mod/sumdb/note), copied verbatim.
"""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from ledger.checkpoints import (
    CheckpointFormatError,
    Verifier,
    checkpoint_body,
    generate_signer_key,
    key_id,
    make_signer_key,
    make_vkey,
    open_note,
    parse_checkpoint,
    parse_signer_key,
    parse_vkey,
    sign_checkpoint,
    sign_note,
    verify_checkpoint,
)

PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKv"
    "qfqdngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    "\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oO"
    "TGwnWLox33WWd1RvMc+QQ=\n"
)

LOG = "civic.example/ledger"
ROOT = hashlib.sha256(b"some root").digest()
KEY = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"test log key").digest())
VKEY = make_vkey(LOG, KEY.public_key())
NOTE = sign_checkpoint(LOG, 42, ROOT, KEY, LOG)


# --- The Go note package's published vectors --------------------------------


def test_go_verifier_key_parses_and_writes_back_byte_for_byte() -> None:
    verifier = parse_vkey(PETER_VKEY)
    assert (verifier.name, verifier.key_id) == ("PeterNeumann", 0xC74F20A3)
    assert verifier.vkey == PETER_VKEY


def test_go_signer_key_parses_writes_back_and_matches_its_verifier() -> None:
    signer = parse_signer_key(PETER_SKEY)
    assert make_signer_key(signer.name, signer.private_key) == PETER_SKEY
    assert make_vkey(signer.name, signer.private_key.public_key()) == PETER_VKEY


def test_signing_the_go_text_reproduces_the_go_signature() -> None:
    signer = parse_signer_key(PETER_SKEY)
    assert sign_note(GO_TEXT, signer.private_key, signer.name) == GO_TEXT + "\n" + PETER_SIG


def test_zero_seed_key_reproduces_the_go_cosignature_example() -> None:
    # ExampleSign_add_signatures draws EnochRoot's key from a reader of zeros.
    enoch = Ed25519PrivateKey.from_private_bytes(bytes(32))
    assert make_vkey("EnochRoot", enoch.public_key()) == ENOCH_VKEY
    assert sign_note(GO_TEXT, enoch, "EnochRoot").endswith("\n" + ENOCH_SIG)


def test_go_note_verifies_and_unknown_signers_are_set_aside() -> None:
    note, findings = open_note(GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG, [parse_vkey(PETER_VKEY)])
    assert findings == [] and note is not None
    assert note.text == GO_TEXT
    assert [(s.key_name, s.key_id) for s in note.signatures] == [("PeterNeumann", 0xC74F20A3)]
    assert [(s.key_name, s.key_id) for s in note.unverified] == [("EnochRoot", 0xAF0CFE78)]


def test_go_note_with_both_keys_known_has_two_verified_signatures() -> None:
    keys = [parse_vkey(PETER_VKEY), parse_vkey(ENOCH_VKEY)]
    note, findings = open_note(GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG, keys)
    assert findings == [] and note is not None and len(note.signatures) == 2


def test_go_note_without_any_known_key_is_refused() -> None:
    assert open_note(GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG, []) == (
        None, ["no signature from a known key"]
    )


def test_go_note_with_a_corrupted_known_signature_is_refused() -> None:
    bad = GO_TEXT + "\n" + PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    assert open_note(bad, [parse_vkey(PETER_VKEY)]) == (
        None, ["invalid signature for key PeterNeumann+c74f20a3"]
    )


def test_go_note_with_more_than_a_hundred_signatures_is_refused() -> None:
    _, findings = open_note(GO_TEXT + "\n" + PETER_SIG * 101, [parse_vkey(PETER_VKEY)])
    assert findings == ["note has more than 100 signatures"]


GO_BAD_MESSAGES = [
    GO_TEXT,
    GO_TEXT + "\n",
    GO_TEXT + "\n" + PETER_SIG[:-1],
    "\x01" + GO_TEXT + "\n" + PETER_SIG,
    b"\xff" + (GO_TEXT + "\n" + PETER_SIG).encode(),
    GO_TEXT + "\n" + "\u2014 Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1F"
    "FYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=",
    GO_TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
]


@pytest.mark.parametrize("message", GO_BAD_MESSAGES)
def test_go_malformed_messages_are_refused(message: str | bytes) -> None:
    note, findings = open_note(message, [parse_vkey(PETER_VKEY)])
    assert note is None and findings
    with pytest.raises(CheckpointFormatError):
        parse_checkpoint(message)


def _manglings(key: str) -> list[str]:
    """Go's TestNewVerifier/TestNewSigner: every proper substring, every byte + 1."""
    cut = [key[i:j] for i in range(len(key) + 1) for j in range(i + 1, len(key) + 1)]
    bumped = [key[:i] + chr(ord(key[i]) + 1) + key[i + 1 :] for i in range(len(key))]
    return [k for k in cut + bumped if k != key]


def test_every_mangling_of_the_go_verifier_key_is_refused() -> None:
    extra = [
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ]
    for mangled in _manglings(PETER_VKEY) + extra:
        with pytest.raises(CheckpointFormatError):
            parse_vkey(mangled)


def test_every_mangling_of_the_go_signer_key_is_refused() -> None:
    for mangled in _manglings(PETER_SKEY):
        with pytest.raises(CheckpointFormatError):
            parse_signer_key(mangled)


# --- Our checkpoints ---------------------------------------------------------


def test_a_signed_checkpoint_verifies_and_round_trips() -> None:
    checkpoint, findings = verify_checkpoint(NOTE, VKEY, origin=LOG)
    assert findings == [] and checkpoint is not None
    assert (checkpoint.origin, checkpoint.size, checkpoint.root) == (LOG, 42, ROOT)
    assert NOTE.startswith(checkpoint.body + "\n\u2014 " + LOG + " ")
    assert parse_checkpoint(NOTE).body == checkpoint.body


def test_checkpoint_text_has_the_c2sp_layout() -> None:
    root64 = base64.b64encode(ROOT).decode()
    assert NOTE.split("\n")[:5] == [LOG, "42", root64, "", NOTE.split("\n")[4]]
    # 4-byte key id + 64-byte signature = 68 bytes = 91 base64 characters and one "=".
    assert re.fullmatch(r"\u2014 \S+ [A-Za-z0-9+/]{91}=", NOTE.split("\n")[4])
    assert NOTE.endswith("\n")


def test_vkey_has_the_name_the_key_id_and_the_typed_key() -> None:
    name, hex_id, key64 = VKEY.split("+", 2)
    raw = KEY.public_key().public_bytes_raw()
    assert name == LOG and re.fullmatch(r"[0-9a-f]{8}", hex_id)
    assert bytes.fromhex(hex_id) == hashlib.sha256(LOG.encode() + b"\n\x01" + raw).digest()[:4]
    assert int(hex_id, 16) == key_id(LOG, raw)
    assert base64.b64decode(key64) == b"\x01" + raw


def test_generated_keys_sign_and_verify_each_other() -> None:
    skey, vkey = generate_signer_key("witness.example/w1")
    signer = parse_signer_key(skey)
    note = sign_checkpoint(LOG, 7, ROOT, signer.private_key, signer.name)
    assert verify_checkpoint(note, vkey)[1] == []
    public = signer.private_key.public_key().public_bytes_raw()
    assert parse_vkey(vkey) == Verifier("witness.example/w1", signer.key_id, public)


def test_extension_lines_are_signed_and_kept() -> None:
    note = sign_checkpoint(LOG, 3, ROOT, KEY, LOG, extensions=["Timestamp: 1700000000"])
    checkpoint, findings = verify_checkpoint(note, VKEY)
    assert findings == [] and checkpoint is not None
    assert checkpoint.extensions == ("Timestamp: 1700000000",)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("\n42\n", "\n43\n"),
        (LOG + "\n", LOG + "x\n"),
        (base64.b64encode(ROOT).decode(), base64.b64encode(bytes(32)).decode()),
    ],
    ids=["size", "origin", "root"],
)
def test_a_tampered_checkpoint_is_refused(old: str, new: str) -> None:
    tampered = NOTE.replace(old, new, 1)
    assert tampered != NOTE
    label = f"{LOG}+{key_id(LOG, KEY.public_key().public_bytes_raw()):08x}"
    assert verify_checkpoint(tampered, VKEY) == (None, [f"invalid signature for key {label}"])


def test_a_checkpoint_signed_by_another_key_is_refused() -> None:
    other = Ed25519PrivateKey.generate()
    assert verify_checkpoint(sign_checkpoint(LOG, 42, ROOT, other, LOG), VKEY) == (
        None, ["no signature from a known key"]
    )


def test_a_checkpoint_from_another_log_is_refused_when_the_origin_is_pinned() -> None:
    note = sign_checkpoint("other.example/log", 42, ROOT, KEY, LOG)
    assert verify_checkpoint(note, VKEY, origin=LOG) == (
        None, [f"checkpoint origin 'other.example/log' is not the expected {LOG!r}"]
    )


def test_a_witness_cosignature_from_an_unknown_key_is_ignored() -> None:
    witness = Ed25519PrivateKey.generate()
    cosignature = sign_note(checkpoint_body(LOG, 42, ROOT), witness, "w.example").split("\n\n")[1]
    cosigned = NOTE + cosignature
    checkpoint, findings = verify_checkpoint(cosigned, VKEY)
    assert findings == [] and checkpoint is not None and len(checkpoint.signatures) == 1


def test_two_trusted_keys_with_the_same_name_and_id_are_ambiguous() -> None:
    verifier = parse_vkey(VKEY)
    _, findings = verify_checkpoint(NOTE, [verifier, verifier])
    assert findings[0].startswith("ambiguous key")


def _signed(body: str) -> str:
    return sign_note(body, KEY, LOG)


ROOT64 = base64.b64encode(ROOT).decode()
MALFORMED_BODIES = [
    (f"{LOG}\n042\n{ROOT64}\n", "checkpoint size must be decimal without leading zeros"),
    (f"{LOG}\n-1\n{ROOT64}\n", "checkpoint size must be decimal without leading zeros"),
    (f"{LOG}\n\u0664\u0662\n{ROOT64}\n", "checkpoint size must be decimal without leading zeros"),
    (f"{LOG}\n{2**64}\n{ROOT64}\n", "checkpoint size must be decimal without leading zeros"),
    (f"{LOG}\n42\n{ROOT64[:-2]}\n", "checkpoint root is not valid base64"),
    (f"{LOG}\n42\n{ROOT64[:-2]}9=\n", "checkpoint root is not canonical base64"),
    (f"{LOG}\n42\n{base64.b64encode(ROOT[:31]).decode()}\n", "checkpoint root must be 32 bytes"),
    (f"\n42\n{ROOT64}\n", "checkpoint origin is empty"),
    (f"{LOG}\n42\n", "checkpoint needs origin, size and root lines"),
    ("garbage\n", "checkpoint needs origin, size and root lines"),
]


@pytest.mark.parametrize(("body", "finding"), MALFORMED_BODIES)
def test_a_validly_signed_but_malformed_body_gives_its_finding(body: str, finding: str) -> None:
    assert verify_checkpoint(_signed(body), VKEY) == (None, [finding])
    with pytest.raises(CheckpointFormatError, match=re.escape(finding)):
        parse_checkpoint(_signed(body))


MALFORMED_NOTES = [
    (NOTE.replace("\n\n", "\n", 1), "note has no blank line before its signatures"),
    (NOTE[:-1], "signature block must be non-empty and end with a newline"),
    (NOTE[:-3] + "*" + NOTE[-2:], "signature line 1 is malformed: signature is not valid base64"),
    (NOTE.replace("\u2014", "-", 1), "does not start with an em dash and a space"),
    (NOTE.replace(ROOT64, ROOT64 + "\t"), "note contains an ASCII control character"),
    ("", "note has no blank line before its signatures"),
    ("\n\n\u2014 a AAAA\n", "signature line 1 is too short"),
    (NOTE + "\ud800", "note is not valid UTF-8"),
]


@pytest.mark.parametrize(("note", "finding"), MALFORMED_NOTES)
def test_a_malformed_note_gives_a_finding_and_a_named_error(note: str, finding: str) -> None:
    checkpoint, findings = verify_checkpoint(note, VKEY)
    assert checkpoint is None and len(findings) == 1 and finding in findings[0]
    with pytest.raises(CheckpointFormatError):
        parse_checkpoint(note)


def test_an_unusable_verifier_key_is_a_finding_not_a_crash() -> None:
    checkpoint, findings = verify_checkpoint(NOTE, "not a key")
    assert checkpoint is None and findings[0].startswith("verifier key is unusable")


def test_signing_refuses_values_that_would_not_parse_back() -> None:
    for bad in [("", 1, ROOT), (LOG, -1, ROOT), (LOG, 1, ROOT[:31]), ("a\nb", 1, ROOT)]:
        with pytest.raises(CheckpointFormatError):
            sign_checkpoint(*bad, KEY, LOG)
    with pytest.raises(CheckpointFormatError):
        sign_checkpoint(LOG, 1, ROOT, KEY, "bad name")
    with pytest.raises(CheckpointFormatError):
        sign_checkpoint(LOG, 1, ROOT, KEY, LOG, extensions=[""])


@given(st.one_of(st.text(), st.binary()))
def test_random_text_is_refused_with_findings_never_an_exception(text: str | bytes) -> None:
    checkpoint, findings = verify_checkpoint(text, VKEY)
    assert checkpoint is None and findings
    try:
        parse_checkpoint(text)
    except CheckpointFormatError:
        pass


@given(st.integers(0, len(NOTE) - 1), st.text(min_size=0, max_size=3), st.integers(0, 3))
def test_any_edit_of_a_signed_checkpoint_is_refused(at: int, insert: str, delete: int) -> None:
    edited = NOTE[:at] + insert + NOTE[at + delete :]
    if edited == NOTE:
        return
    checkpoint, findings = verify_checkpoint(edited, VKEY)
    assert checkpoint is None and findings


@given(st.text(max_size=120))
def test_random_key_strings_raise_only_the_named_error(text: str) -> None:
    for parse in (parse_vkey, parse_signer_key):
        try:
            parse(text)
        except CheckpointFormatError:
            pass

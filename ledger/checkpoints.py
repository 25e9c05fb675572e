"""C2SP signed notes and tlog-checkpoints, signed with Ed25519.

Why this module exists: a Merkle root means nothing until the log commits to
it. A checkpoint is the log's signed statement "at size N my root was R"; two
checkpoints plus a consistency proof show the history was only appended to.
We use the standard text formats (c2sp.org/signed-note, c2sp.org/tlog-checkpoint,
keys as in Go's golang.org/x/mod/sumdb/note) so existing tools and witnesses
can check our log without our code.

Formats::

    <origin>\\n<decimal size>\\n<base64 root>\\n[<extension line>\\n ...]
    \\n
    \u2014 <key name> <base64(4-byte key id || 64-byte Ed25519 signature)>\\n

    verifier key: <name>+<8 hex key id>+<base64(0x01 || 32-byte public key)>
    signer key:   PRIVATE+KEY+<name>+<8 hex key id>+<base64(0x01 || 32-byte seed)>

Parsers raise :class:`CheckpointFormatError` and nothing else; verifiers
return ``(value or None, findings)`` where the value is present only when
there are no findings, so unverified text can never be mistaken for a fact.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ED25519 = 0x01
MAX_SIGNATURES = 100
_MAX_SIZE = 2**64 - 1
_SIG_PREFIX = "\u2014 "
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,19}")
_HEX_ID = re.compile(r"[0-9a-fA-F]{8}")


class CheckpointFormatError(ValueError):
    """A note, checkpoint or key string is malformed (the one parse error)."""


@dataclass(frozen=True)
class Verifier:
    """A trusted Ed25519 public key and the name it signs under."""

    name: str
    key_id: int
    public_key: bytes

    @property
    def vkey(self) -> str:
        """The verifier key string operators publish."""
        return make_vkey(self.name, self.public_key)

    def verify(self, message: bytes, signature: bytes) -> bool:
        """True only for a valid Ed25519 signature over ``message``."""
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True


@dataclass(frozen=True)
class Signer:
    """A private key with the name and id its signatures carry, and the verifier
    keys of the keys it replaced (``retired``, oldest first): checkpoints signed
    before a rotation verify only with those."""

    name: str
    key_id: int
    private_key: Ed25519PrivateKey = field(repr=False, compare=False)
    retired: tuple[str, ...] = ()


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: who claims to sign, and the raw signature."""

    key_name: str
    key_id: int
    signature: bytes


@dataclass(frozen=True)
class Note:
    """Note text whose ``signatures`` verified; ``unverified`` are from unknown keys."""

    text: str
    signatures: tuple[NoteSignature, ...]
    unverified: tuple[NoteSignature, ...] = ()


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head: ``size`` leaves with Merkle root ``root``."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()
    signatures: tuple[NoteSignature, ...] = ()

    @property
    def body(self) -> str:
        """The exact note text that is signed."""
        return checkpoint_body(self.origin, self.size, self.root, self.extensions)


def _b64decode(text: str, what: str) -> bytes:
    """Strict standard base64: the alphabet, padding and zero trailing bits."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise CheckpointFormatError(f"{what} is not valid base64") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise CheckpointFormatError(f"{what} is not canonical base64")
    return raw


def _check_name(name: str) -> None:
    if not name or "+" in name or any(c.isspace() or ord(c) < 0x20 for c in name):
        raise CheckpointFormatError("key name must be non-empty, without spaces or '+'")


def key_id(name: str, public_key: bytes) -> int:
    """SHA-256(name || 0x0A || 0x01 || public key)[:4], big-endian."""
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([ED25519]) + public_key)
    return int.from_bytes(digest.digest()[:4], "big")


def make_vkey(name: str, public_key: Ed25519PublicKey | bytes) -> str:
    """Verifier key string ``<name>+<hex id>+<base64(0x01||key)>``."""
    _check_name(name)
    raw = public_key if isinstance(public_key, bytes) else public_key.public_bytes_raw()
    if len(raw) != 32:
        raise CheckpointFormatError("an Ed25519 public key is 32 bytes")
    encoded = base64.b64encode(bytes([ED25519]) + raw).decode("ascii")
    return f"{name}+{key_id(name, raw):08x}+{encoded}"


def _key_parts(name: str, hex_id: str, key64: str, what: str) -> tuple[int, bytes]:
    """Shared checks of vkeys and skeys: returns (key id, 32 key bytes)."""
    _check_name(name)
    if not _HEX_ID.fullmatch(hex_id):
        raise CheckpointFormatError(f"{what} id must be 8 hex digits")
    key = _b64decode(key64, what)
    if len(key) != 33 or key[0] != ED25519:
        raise CheckpointFormatError(f"{what} must be 0x01 and a 32-byte Ed25519 key")
    return int(hex_id, 16), key[1:]


def parse_vkey(text: str) -> Verifier:
    """Parse and check a verifier key; its id must match name and key."""
    if not isinstance(text, str) or text.count("+") < 2:
        raise CheckpointFormatError("verifier key must be <name>+<hex id>+<base64 key>")
    name, hex_id, key64 = text.split("+", 2)
    claimed, public = _key_parts(name, hex_id, key64, "verifier key")
    if key_id(name, public) != claimed:
        raise CheckpointFormatError("verifier key id does not match its name and key")
    return Verifier(name, claimed, public)


def make_signer_key(name: str, private_key: Ed25519PrivateKey) -> str:
    """Signer key string as Go's note.GenerateKey writes it; keep it secret."""
    _check_name(name)
    public = private_key.public_key().public_bytes_raw()
    seed64 = base64.b64encode(bytes([ED25519]) + private_key.private_bytes_raw()).decode("ascii")
    return f"PRIVATE+KEY+{name}+{key_id(name, public):08x}+{seed64}"


def parse_signer_key(text: str) -> Signer:
    """Parse a signer key; its id must match the key the seed derives."""
    parts = text.split("+", 4) if isinstance(text, str) else []
    if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
        raise CheckpointFormatError("signer key must be PRIVATE+KEY+<name>+<hex id>+<base64>")
    claimed, seed = _key_parts(parts[2], parts[3], parts[4], "signer key")
    private_key = Ed25519PrivateKey.from_private_bytes(seed)
    if key_id(parts[2], private_key.public_key().public_bytes_raw()) != claimed:
        raise CheckpointFormatError("signer key id does not match its name and key")
    return Signer(parts[2], claimed, private_key)


def generate_signer_key(name: str) -> tuple[str, str]:
    """A fresh key pair as ``(signer key, verifier key)`` strings."""
    private_key = Ed25519PrivateKey.generate()
    return make_signer_key(name, private_key), make_vkey(name, private_key.public_key())


def _check_text(text: str, what: str) -> None:
    """UTF-8 without ASCII control characters other than newline."""
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise CheckpointFormatError(f"{what} contains an ASCII control character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise CheckpointFormatError(f"{what} is not valid UTF-8") from None


def sign_note(text: str, private_key: Ed25519PrivateKey, key_name: str) -> str:
    """Sign note text (ending in newline) and return the signed note."""
    _check_name(key_name)
    _check_text(text, "note text")
    if not text.endswith("\n"):
        raise CheckpointFormatError("note text must end with a newline")
    return f"{text}\n{_signature_line(text, private_key, key_name)}"


def cosign_note(note: str, private_key: Ed25519PrivateKey, key_name: str) -> str:
    """``note`` with one more signature line, by ``private_key``, over the same text.

    C2SP signed notes may carry several signatures and verifiers skip the ones
    from keys they do not know, so a note signed by a log's old and new keys
    verifies for auditors who trust either: that is how a rotated key is
    vouched for. A key that already signed the note is not added twice."""
    _check_name(key_name)
    text, signatures = split_note(note)
    kid = key_id(key_name, private_key.public_key().public_bytes_raw())
    if any((s.key_name, s.key_id) == (key_name, kid) for s in signatures):
        return note
    return note + _signature_line(text, private_key, key_name)


def _signature_line(text: str, private_key: Ed25519PrivateKey, key_name: str) -> str:
    kid = key_id(key_name, private_key.public_key().public_bytes_raw())
    blob = kid.to_bytes(4, "big") + private_key.sign(text.encode("utf-8"))
    return f"{_SIG_PREFIX}{key_name} {base64.b64encode(blob).decode('ascii')}\n"


def _parse_signature_line(line: str, number: int) -> NoteSignature:
    name, _, sig64 = line.removeprefix(_SIG_PREFIX).partition(" ")
    try:
        if not line.startswith(_SIG_PREFIX):
            raise CheckpointFormatError("does not start with an em dash and a space")
        _check_name(name)
        blob = _b64decode(sig64, "signature")
    except CheckpointFormatError as error:
        raise CheckpointFormatError(f"signature line {number} is malformed: {error}") from None
    if len(blob) < 5:
        raise CheckpointFormatError(f"signature line {number} is too short")
    return NoteSignature(name, int.from_bytes(blob[:4], "big"), blob[4:])


def split_note(note: str | bytes) -> tuple[str, list[NoteSignature]]:
    """Split a signed note into its text and its (unverified) signatures."""
    if isinstance(note, bytes):
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError:
            raise CheckpointFormatError("note is not valid UTF-8") from None
    if not isinstance(note, str):
        raise CheckpointFormatError("note must be text")
    _check_text(note, "note")
    split = note.rfind("\n\n")
    if split < 0:
        raise CheckpointFormatError("note has no blank line before its signatures")
    text, block = note[: split + 1], note[split + 2 :]
    if not block.endswith("\n"):
        raise CheckpointFormatError("signature block must be non-empty and end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise CheckpointFormatError(f"note has more than {MAX_SIGNATURES} signatures")
    return text, [_parse_signature_line(line, n) for n, line in enumerate(lines, 1)]


def _check_signatures(
    text: str, signatures: list[NoteSignature], verifiers: Sequence[Verifier]
) -> tuple[list[NoteSignature], list[NoteSignature], list[str]]:
    """Verify known signatures; unknown ones are kept aside, as C2SP requires."""
    verified: list[NoteSignature] = []
    unverified: list[NoteSignature] = []
    findings: list[str] = []
    message = text.encode("utf-8")
    for sig in signatures:
        matches = [v for v in verifiers if (v.name, v.key_id) == (sig.key_name, sig.key_id)]
        label = f"{sig.key_name}+{sig.key_id:08x}"
        if len(matches) > 1:
            findings.append(f"ambiguous key {label}: more than one trusted key has it")
        elif not matches:
            if sig not in unverified:
                unverified.append(sig)
        elif not matches[0].verify(message, sig.signature):
            findings.append(f"invalid signature for key {label}")
        elif all(s.key_name != sig.key_name or s.key_id != sig.key_id for s in verified):
            verified.append(sig)
    if not verified and not findings:
        findings.append("no signature from a known key")
    return verified, unverified, findings


def open_note(note: str | bytes, verifiers: Sequence[Verifier]) -> tuple[Note | None, list[str]]:
    """Parse and verify a signed note; the Note is given only without findings."""
    try:
        text, signatures = split_note(note)
    except CheckpointFormatError as error:
        return None, [str(error)]
    verified, unverified, findings = _check_signatures(text, signatures, verifiers)
    if findings:
        return None, findings
    return Note(text, tuple(verified), tuple(unverified)), []


def checkpoint_body(origin: str, size: int, root: bytes, extensions: Sequence[str] = ()) -> str:
    """The checkpoint note text; refuses values that would not parse back."""
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= _MAX_SIZE:
        raise CheckpointFormatError("size must be an integer from 0 to 2**64-1")
    if not isinstance(root, bytes) or len(root) != 32:
        raise CheckpointFormatError("root must be a 32-byte hash")
    lines = [origin, str(size), base64.b64encode(root).decode("ascii"), *extensions]
    if any(not isinstance(line, str) or not line or "\n" in line for line in lines):
        raise CheckpointFormatError("origin and extension lines must be non-empty single lines")
    body = "\n".join(lines) + "\n"
    _check_text(body, "checkpoint")
    return body


def _parse_body(text: str) -> tuple[str, int, bytes, tuple[str, ...]]:
    """Origin, size, root and extensions of checkpoint text (ends in newline)."""
    lines = text.split("\n")[:-1]
    if len(lines) < 3 or not text.endswith("\n"):
        raise CheckpointFormatError("checkpoint needs origin, size and root lines")
    origin, size_text, root_text, *extensions = lines
    if not origin:
        raise CheckpointFormatError("checkpoint origin is empty")
    if not _DECIMAL.fullmatch(size_text) or int(size_text) > _MAX_SIZE:
        raise CheckpointFormatError("checkpoint size must be decimal without leading zeros")
    root = _b64decode(root_text, "checkpoint root")
    if len(root) != 32:
        raise CheckpointFormatError("checkpoint root must be 32 bytes")
    if not all(extensions):
        raise CheckpointFormatError("checkpoint extension lines must be non-empty")
    return origin, int(size_text), root, tuple(extensions)


def parse_checkpoint(note: str | bytes) -> Checkpoint:
    """Parse a signed checkpoint WITHOUT verifying it (see verify_checkpoint)."""
    text, signatures = split_note(note)
    return Checkpoint(*_parse_body(text), signatures=tuple(signatures))


def sign_checkpoint(
    origin: str, size: int, root: bytes, private_key: Ed25519PrivateKey, key_name: str,
    extensions: Sequence[str] = (),
) -> str:
    """The log's signed statement that its tree of ``size`` has ``root``."""
    return sign_note(checkpoint_body(origin, size, root, extensions), private_key, key_name)


def _verifiers(vkey: str | Verifier | Sequence[str | Verifier]) -> list[Verifier]:
    keys = [vkey] if isinstance(vkey, (str, Verifier)) else list(vkey)
    return [parse_vkey(k) if isinstance(k, str) else k for k in keys]


def verify_checkpoint(
    note: str | bytes, vkey: str | Verifier | Sequence[str | Verifier], *, origin: str | None = None
) -> tuple[Checkpoint | None, list[str]]:
    """Verify a signed checkpoint against trusted key(s), and its origin if given.

    Returns the checkpoint (carrying only the verified signatures) and no
    findings, or ``None`` and the reasons it must not be trusted.
    """
    try:
        verifiers = _verifiers(vkey)
    except (CheckpointFormatError, TypeError) as error:
        return None, [f"verifier key is unusable: {error}"]
    opened, findings = open_note(note, verifiers)
    if opened is None:
        return None, findings
    try:
        fields = _parse_body(opened.text)
    except CheckpointFormatError as error:
        return None, [str(error)]
    if origin is not None and fields[0] != origin:
        return None, [f"checkpoint origin {fields[0]!r} is not the expected {origin!r}"]
    return Checkpoint(*fields, signatures=opened.signatures), []

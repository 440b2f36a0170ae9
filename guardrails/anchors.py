"""Anchors of the audit chain, kept outside the state database.

A hash chain proves that nothing inside it changed, not that it still ends where it ended:
deleting the newest entries, or rewriting and re-hashing the whole chain, leaves a chain whose
links all verify. So every append also writes an *anchor* (the entry's seq and hash, signed with
an HMAC key that is not in the state database) as one line of an append-only file that whoever
can write the database cannot rewrite (`audit.anchors_path`). `AuditLog.verify` then demands an
anchor for every entry and the anchored entry for every anchor.

Anchors are written while the appender holds the state store's write lock, in the same
transaction as the entry (so two processes never interleave, and a committed entry always has
its anchor). An anchor whose transaction then fails to commit is cancelled by a signed `void`
line. The first anchor written for a chain that already has entries (an installation upgraded
from before anchoring) is a `baseline`: it anchors the head it found, which covers every entry
before it through the hash chain.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ValidationError

from guardrails.settings import AuditConfig
from warehouse.errors import FinopsError
from warehouse.state.store import StateStore

__all__ = [
    "MIN_KEY_CHARS",
    "Anchor",
    "AnchorBook",
    "AnchorError",
    "AnchorLine",
    "AnchorRead",
    "AuditKey",
]

MIN_KEY_CHARS = 32
ANCHORS_FILE = "audit-anchors.jsonl"
KEY_FILE = "audit.key"
AnchorKind = Literal["entry", "baseline", "void"]


class AnchorError(FinopsError):
    """The chain cannot be anchored: the key is missing or too short, or the file unwritable."""


class Anchor(BaseModel):
    """One signed line: entry `seq` of the chain has hash `head` (`void`: it was not committed)."""

    v: Literal[1] = 1
    kind: AnchorKind
    seq: int
    head: str
    at: str
    kid: str
    mac: str = ""

    def body(self) -> bytes:
        """What the MAC covers: every field but the MAC, canonical JSON."""
        fields = self.model_dump(exclude={"mac"})
        return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


class AnchorLine(BaseModel):
    """A line of the anchor file as read back: its anchor, or why it is not a valid one."""

    line: int
    anchor: Anchor | None = None
    problem: str | None = None


class AnchorRead(BaseModel):
    """The anchor file up to a size, checked against the key."""

    path: str
    exists: bool
    lines: list[AnchorLine]
    key_problem: str | None = None

    def valid(self) -> list[tuple[int, Anchor]]:
        """(line number, anchor) of every line that parsed and whose MAC verified."""
        return [(x.line, x.anchor) for x in self.lines if x.anchor is not None and not x.problem]


def key_id(key: bytes) -> str:
    """A short public name of a key, so an anchor written with another key says so."""
    return hashlib.sha256(b"finops-audit-key-id:" + key).hexdigest()[:16]


def _mac(key: bytes, anchor: Anchor) -> str:
    return hmac.new(key, anchor.body(), hashlib.sha256).hexdigest()


class AuditKey:
    """The anchors' HMAC key: the environment variable `env` when set, else the file `file`
    (created with mode 0600 on the first append). Never stored in the state database."""

    def __init__(self, env: str, file: Path, environ: Mapping[str, str]) -> None:
        self.env = env
        self.file = file
        self.environ = environ

    def describe(self) -> str:
        """Where the key comes from, for messages (never the key itself)."""
        return f"${self.env} or {self.file}"

    def load(self) -> bytes | None:
        """The key, or None when neither the variable nor the file exists."""
        value = self.environ.get(self.env)
        if value:
            if len(value) < MIN_KEY_CHARS:
                raise AnchorError(
                    f"${self.env} holds {len(value)} characters; the audit key needs at least "
                    f"{MIN_KEY_CHARS} (e.g. `openssl rand -hex 32`)"
                )
            return value.encode()
        try:
            text = self.file.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise AnchorError(f"cannot read the audit key {self.file}: {exc.strerror}") from None
        if len(text) < MIN_KEY_CHARS:
            raise AnchorError(
                f"the audit key {self.file} holds {len(text)} characters; it needs at least "
                f"{MIN_KEY_CHARS}"
            )
        return text.encode()

    def create(self) -> bytes:
        """Write a new random key to the file (0600), atomically; the winner of a race wins."""
        self.file.parent.mkdir(parents=True, exist_ok=True)
        temp = self.file.with_name(f".{self.file.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, (secrets.token_hex(32) + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(temp, self.file)
        except FileExistsError:
            pass
        finally:
            temp.unlink()
        key = self.load()
        if key is None:
            raise AnchorError(f"the audit key {self.file} vanished right after it was created")
        return key


class AnchorBook:
    """The append-only anchor file of one audit chain, and the key that signs its lines."""

    def __init__(self, path: Path, key: AuditKey) -> None:
        self.path = path
        self.key = key
        self._key: bytes | None = None

    @classmethod
    def for_store(
        cls,
        store: StateStore,
        config: AuditConfig | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> AnchorBook | None:
        """The anchor book `config` names for `store`; None when the chain is not anchored
        (PostgreSQL or an in-memory store without `audit.anchors_path`).

        Example: a SQLite state at /srv/finops/state.db with the default config anchors to
        /srv/finops/audit-anchors.jsonl, keyed by $FINOPS_AUDIT_KEY or /srv/finops/audit.key.
        """
        config = config or AuditConfig()
        base = None
        if store.backend == "sqlite" and store.path != ":memory:":
            base = Path(store.path).expanduser().resolve().parent
        path = config.anchors_path.expanduser() if config.anchors_path else None
        if path is None and base is not None:
            path = base / ANCHORS_FILE
        if path is None:
            return None
        if not path.is_absolute() and base is not None:
            path = base / path
        key_file = config.key_file.expanduser() if config.key_file else path.parent / KEY_FILE
        if not key_file.is_absolute() and base is not None:
            key_file = base / key_file
        env = os.environ if environ is None else environ
        return cls(path.resolve(), AuditKey(config.key_env, key_file.resolve(), env))

    # -- writing ---------------------------------------------------------------------------------

    def record(self, seq: int, head: str, at: str, *, prev: str | None) -> None:
        """Anchor entry `seq` (hash `head`). `prev` is the hash of entry `seq - 1`: when the file
        is still empty it is anchored first as the chain's baseline. Call it holding the state
        store's write lock, before the entry's transaction commits."""
        key = self._writing_key()
        lines = [self._sign(key, "entry", seq, head, at)]
        with self._locked() as fd:
            if prev is not None and seq > 1 and os.fstat(fd).st_size == 0:
                lines.insert(0, self._sign(key, "baseline", seq - 1, prev, at))
            self._write(fd, b"".join(lines))

    def void(self, seq: int, head: str, at: str) -> None:
        """Cancel the anchor of entry `seq` whose transaction did not commit."""
        key = self._writing_key()
        with self._locked() as fd:
            self._write(fd, self._sign(key, "void", seq, head, at))

    def _writing_key(self) -> bytes:
        if self._key is not None:
            return self._key
        key = self.key.load()
        if key is None:
            if self.size() > 0:
                raise AnchorError(
                    f"the audit key ({self.key.describe()}) is missing but {self.path} holds "
                    "anchors: restore the key, or move the anchor file aside to start anchoring "
                    "afresh (the next entry then anchors the chain as it is)"
                )
            key = self.key.create()
        self._key = key
        return key

    @staticmethod
    def _sign(key: bytes, kind: AnchorKind, seq: int, head: str, at: str) -> bytes:
        anchor = Anchor(kind=kind, seq=seq, head=head, at=at, kid=key_id(key))
        anchor.mac = _mac(key, anchor)
        return (anchor.model_dump_json() + "\n").encode()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[int]:
        """The anchor file opened for appending under an exclusive lock."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise AnchorError(
                f"cannot write the audit anchors {self.path}: {exc.strerror}"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield fd
        finally:
            os.close(fd)

    def _write(self, fd: int, data: bytes) -> None:
        try:
            written = os.write(fd, data)
            os.fsync(fd)
        except OSError as exc:
            raise AnchorError(
                f"cannot write the audit anchors {self.path}: {exc.strerror}"
            ) from None
        if written != len(data):
            raise AnchorError(f"short write to the audit anchors {self.path}")

    def _failed(self, verb: str, exc: OSError) -> AnchorError:
        return AnchorError(f"cannot {verb} the audit anchors {self.path}: {exc.strerror}")

    # -- reading ---------------------------------------------------------------------------------

    def size(self) -> int:
        """The anchor file's size in bytes (0 when it does not exist)."""
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def read(self, upto: int | None = None) -> AnchorRead:
        """Every line of the first `upto` bytes, each checked against the key."""
        try:
            with self.path.open("rb") as handle:
                data = handle.read() if upto is None else handle.read(upto)
        except FileNotFoundError:
            return AnchorRead(path=str(self.path), exists=False, lines=[])
        except OSError as exc:
            raise AnchorError(
                f"cannot read the audit anchors {self.path}: {exc.strerror}"
            ) from None
        key, key_problem = None, None
        try:
            key = self.key.load()
        except AnchorError as exc:
            key_problem = str(exc)
        if key is None and key_problem is None and data.strip():
            key_problem = (
                f"the audit key ({self.key.describe()}) is missing, so none of the anchors in "
                f"{self.path} can be checked"
            )
        lines = [
            _check_line(number, raw, key)
            for number, raw in enumerate(data.splitlines(), start=1)
            if raw.strip()
        ]
        return AnchorRead(path=str(self.path), exists=True, lines=lines, key_problem=key_problem)


def _check_line(number: int, raw: bytes, key: bytes | None) -> AnchorLine:
    try:
        anchor = Anchor.model_validate_json(raw)
    except ValidationError:
        return AnchorLine(line=number, problem=f"line {number} is not an anchor")
    if key is None:
        return AnchorLine(line=number, anchor=anchor, problem="unchecked: no key")
    if hmac.compare_digest(anchor.mac, _mac(key, anchor)):
        return AnchorLine(line=number, anchor=anchor)
    if anchor.kid != key_id(key):
        why = f"was signed with another key (id {anchor.kid}, the audit key's is {key_id(key)})"
    else:
        why = "does not verify under the audit key (forged or edited)"
    return AnchorLine(line=number, anchor=anchor, problem=f"line {number} {why}")

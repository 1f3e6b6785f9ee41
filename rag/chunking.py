"""Chinese-aware chunking: whole sentences, headings kept as context, bounded length.

Sentences end at 。！？；… and line breaks (and their ASCII forms followed by a space). Sentences
are packed into chunks of about ``max_chars`` characters; a sentence longer than that is cut at
commas, then hard. Markdown headings are not chunk text: the heading path travels with each
chunk as context, so "## 关键条款" under a regulation's title still tells the chunk where it is.

Characters are not what the embedding model counts. Given the model's tokenizer
(``embed_tokens``) and limit (``max_embed_tokens``), every chunk is checked: context plus text
must fit, or the chunk is split again (at sentences, then commas, then in the middle) until it
does, so the model never silently truncates a passage. The context itself is capped at
``MAX_CONTEXT_CHARS``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from rag.documents import Chunk, Document, content_hash

_SENTENCE_END = re.compile(r"(?<=[。！？；!?;…])(?=[^。！？；!?;…”’」』）)])|(?<=[。！？!?][”’」』）)])|\n+")
_SOFT_BREAK = re.compile(r"(?<=[，、,：:])")
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def _cut_long(sentence: str, max_chars: int) -> Iterator[str]:
    if len(sentence) <= max_chars:
        yield sentence
        return
    buf = ""
    for piece in _SOFT_BREAK.split(sentence):
        while len(piece) > max_chars:
            if buf:
                yield buf
                buf = ""
            yield piece[:max_chars]
            piece = piece[max_chars:]
        if len(buf) + len(piece) > max_chars and buf:
            yield buf
            buf = ""
        buf += piece
    if buf:
        yield buf


def _sections(text: str) -> Iterator[tuple[list[str], str]]:
    """Yield (heading path, body) for each markdown section; plain text is one section."""
    stack: list[tuple[int, str]] = []  # (level, heading) of the open sections
    body: list[str] = []
    for line in text.splitlines():
        m = _HEADING.match(line.strip())
        if m:
            if any(b.strip() for b in body):
                yield [h for _, h in stack], "\n".join(body)
            body = []
            level = len(m.group(1))
            while stack and stack[-1][0] >= level:  # a heading closes its siblings and their children
                stack.pop()
            stack.append((level, m.group(2)))
        else:
            body.append(line)
    if any(b.strip() for b in body):
        yield [h for _, h in stack], "\n".join(body)


def pack(sentences: list[str], max_chars: int, overlap_chars: int) -> list[str]:
    """Greedy packing of whole sentences; the last short sentence(s) of a chunk repeat as overlap."""
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for sent in (p for s in sentences for p in _cut_long(s, max_chars)):
        if current and size + len(sent) > max_chars:
            chunks.append("".join(current))
            carry: list[str] = []
            carried = 0
            for prev in reversed(current):
                if carried + len(prev) > overlap_chars:
                    break
                carry.insert(0, prev)
                carried += len(prev)
            current, size = carry, carried
            if size + len(sent) > max_chars:
                current, size = [], 0
        current.append(sent)
        size += len(sent)
    if current:
        chunks.append("".join(current))
    return chunks


MAX_CONTEXT_CHARS = 160


def embed_text(context: str, text: str) -> str:
    """What the embedding model sees for a chunk (the same as :attr:`Chunk.embed_text`)."""
    return f"{context}\n{text}" if context else text


def _halves(text: str) -> tuple[str, str]:
    """Two pieces of ``text``, cut at the sentence end (else comma, else character) nearest the middle."""
    mid = len(text) // 2
    for pattern in (_SENTENCE_END, _SOFT_BREAK):
        cuts = [m.end() for m in pattern.finditer(text) if 0 < m.end() < len(text)]
        if cuts:
            cut = min(cuts, key=lambda c: abs(c - mid))
            return text[:cut], text[cut:]
    return text[:mid], text[mid:]


def fit_tokens(context: str, text: str, embed_tokens: Callable[[str], int], limit: int) -> list[str]:
    """``text`` split until each piece, with ``context``, is at most ``limit`` model tokens."""
    if len(text) <= 1 or embed_tokens(embed_text(context, text)) <= limit:
        return [text]
    left, right = _halves(text)
    left, right = left.strip() or left, right.strip() or right
    return fit_tokens(context, left, embed_tokens, limit) + fit_tokens(context, right, embed_tokens, limit)


def chunk_document(
    doc: Document,
    max_chars: int = 360,
    overlap_chars: int = 40,
    count_tokens: Callable[[str], int] | None = None,
    embed_tokens: Callable[[str], int] | None = None,
    max_embed_tokens: int | None = None,
) -> list[Chunk]:
    """Split a document into chunks with deterministic ids derived from their content.

    ``count_tokens`` (tiktoken) gives each chunk's recorded token count; ``embed_tokens`` and
    ``max_embed_tokens`` (the embedding model's tokenizer and limit) make every chunk fit the model.
    """
    meta = doc.chunk_metadata()
    chunks: list[Chunk] = []
    seen: dict[str, int] = {}
    for path, body in _sections(doc.text):
        context = " / ".join([p for p in [doc.title, *path] if p])
        if len(context) > MAX_CONTEXT_CHARS:
            context = context[: MAX_CONTEXT_CHARS - 1] + "…"
        texts = pack(split_sentences(body), max_chars, overlap_chars)
        if embed_tokens is not None and max_embed_tokens:
            texts = [piece for t in texts for piece in fit_tokens(context, t, embed_tokens, max_embed_tokens)]
        for text in texts:
            digest = content_hash(doc.doc_id, context, text)
            n = seen.get(digest, 0)
            seen[digest] = n + 1
            chunk_id = f"{doc.doc_id}#{digest[:12]}" + (f"-{n}" if n else "")
            tokens = count_tokens(text) if count_tokens else 0
            chunks.append(Chunk(chunk_id, doc.doc_id, len(chunks), text, context, meta, tokens))
    return chunks

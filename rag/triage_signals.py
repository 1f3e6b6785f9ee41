"""The pieces the triage model computes its signals from: character n-gram text, red-flag phrase
matching, neighbour votes, short fragments of long cases, agreement between signals and local density
in embedding space. Pure functions and one matcher class; the model itself is in :mod:`rag.triage_model`."""

from __future__ import annotations

import re
import unicodedata

import numpy as np

K_NEIGHBOURS = 7
_DIGITS = re.compile(r"\d+")
_SPACE = re.compile(r"\s+")


def ngram_text(text: str) -> str:
    """What the character n-gram features see: NFKC, lower case, digit runs folded, no spaces."""
    text = unicodedata.normalize("NFKC", text).lower()
    return _SPACE.sub("", _DIGITS.sub("0", text))


class FlagMatcher:
    """Red-flag phrases per label, matched as exact substrings of the NFKC-normalised text."""

    def __init__(self, lexicon: dict[str, list[str]]) -> None:
        self.owners: dict[str, set[str]] = {}
        for label, phrases in lexicon.items():
            for phrase in phrases:
                phrase = unicodedata.normalize("NFKC", phrase).strip()
                if len(phrase) >= 2:
                    self.owners.setdefault(phrase, set()).add(label)
        alternatives = sorted(self.owners, key=len, reverse=True)
        self.pattern = re.compile("|".join(map(re.escape, alternatives))) if alternatives else None

    def find(self, text: str) -> dict[str, set[str]]:
        """phrase -> labels, for every phrase found (overlapping phrases: the longest wins)."""
        if self.pattern is None:
            return {}
        norm = unicodedata.normalize("NFKC", text)
        return {m.group(0): self.owners[m.group(0)] for m in self.pattern.finditer(norm)}

    def votes(self, texts: list[str], labels: list[str]) -> np.ndarray:
        """Per label, the number of distinct phrases found, smoothed: no phrase = uniform."""
        index = {label: i for i, label in enumerate(labels)}
        out = np.full((len(texts), len(labels)), 0.5)
        for row, text in enumerate(texts):
            for owners in self.find(text).values():
                for label in owners:
                    if label in index:
                        out[row, index[label]] += 1.0
        return out / out.sum(axis=1, keepdims=True)


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def knn_votes(sims: np.ndarray, train_y: np.ndarray, n_labels: int, k: int = K_NEIGHBOURS,
              sharpness: float = 20.0) -> tuple[np.ndarray, np.ndarray]:
    """Label distribution of the k nearest cases (softmax-weighted by similarity), and their indices."""
    k = min(k, sims.shape[1])
    top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    top_sims = np.take_along_axis(sims, top, axis=1)
    order = np.argsort(-top_sims, axis=1)
    top, top_sims = np.take_along_axis(top, order, axis=1), np.take_along_axis(top_sims, order, axis=1)
    w = np.exp(sharpness * (top_sims - top_sims[:, :1]))
    votes = np.zeros((sims.shape[0], n_labels))
    np.add.at(votes, (np.arange(sims.shape[0])[:, None], train_y[top]), w)
    votes = (votes + 0.05) / (votes + 0.05).sum(axis=1, keepdims=True)
    return votes, top


def fragments(texts: list[str], seed: int = 0, min_chars: int = 80) -> tuple[np.ndarray, list[str]]:
    """One short fragment (one or two consecutive sentences) of every text of at least ``min_chars``."""
    import random

    from rag.chunking import split_sentences

    parents, out = [], []
    for i, text in enumerate(texts):
        sentences = [s for s in split_sentences(text) if len(s) >= 8]
        if len(text) < min_chars or len(sentences) < 2:
            continue
        rng = random.Random(f"{seed}:{text}")  # a case always gives the same fragment
        start = rng.randrange(len(sentences))
        frag = "".join(sentences[start : start + rng.choice((1, 2))])[:160]
        parents.append(i)
        out.append(frag)
    return np.asarray(parents, dtype=int), out


def support_counts(parts: dict[str, np.ndarray], top: np.ndarray) -> np.ndarray:
    """How many of the learned signals (every part but the red flags) have ``top`` as their own top label."""
    return sum((v.argmax(axis=1) == top).astype(int) for p, v in parts.items() if p != "red_flags")


def density(vectors: np.ndarray, k: int = 5, block: int = 2048) -> np.ndarray:
    """Each row's mean cosine to its k nearest other rows. A text less surrounded by cases than its
    own nearest cases are (a negative difference) lies off the known labels: a local outlier."""
    n = len(vectors)
    out = np.zeros(n, dtype=np.float32)
    k = min(k, max(n - 1, 1))
    for i in range(0, n, block):
        sims = vectors[i : i + block] @ vectors.T
        sims[np.arange(len(sims)), np.arange(i, i + len(sims))] = -np.inf
        out[i : i + block] = -np.sort(-sims, axis=1)[:, :k].mean(axis=1) if n > 1 else 0.0
    return out


def class_density(vectors: np.ndarray, y: np.ndarray, k: int = 5) -> np.ndarray:
    """Each row's mean cosine to its k nearest other rows of the same label."""
    out = np.zeros(len(vectors), dtype=np.float32)
    for label in np.unique(y):
        members = np.flatnonzero(y == label)
        out[members] = density(vectors[members], k)
    return out

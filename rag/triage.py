"""Complaint triage: a label from the knowledge base's own labelled cases, with its evidence.

``TriageEngine(service).classify(text)`` returns a :class:`TriageResult`: the label, a calibrated
confidence, whether to abstain (route to a person), the score of every label, the red-flag phrases
found, the nearest labelled cases and matching scripts, and the recommended action. The learned
model (``rag.triage_model``) is trained on the store's labelled cases (its labels are exactly
theirs; scripts with one of those labels are extra training text) and cached on disk, keyed by the
cases' and scripts' fingerprints and the embedding model, so it retrains only when they change.
A black-industry label needs evidence (a red flag of that label, or most learned signals agreeing);
without it the item abstains and goes to a person. With an LLM endpoint configured, the model's
vote (``prompts/triage``) is mixed in; a reply that is not valid JSON or names a label outside the
label set is discarded and said so in ``signals``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rag.chunking import chunk_document
from rag.documents import Document
from rag.triage_lexicon import ABSTAIN_ACTION, LABEL_INFO, LEGIT, LEXICON, OTHER_ACTION
from rag.triage_model import TriageModel

log = logging.getLogger(__name__)
MODEL_VERSION = "triage-9"
LLM_WEIGHT = 0.4
N_CASES, N_SCRIPTS = 5, 3


class TriageUnavailable(RuntimeError):
    """The store has no labelled cases to learn from; the message says how to fix it."""


@dataclass
class Evidence:
    doc_id: str
    kind: str  # case | script
    score: float
    label: str = ""
    title: str = ""
    text: str = ""
    via: str = ""  # dense | keyword | dense+keyword

    def to_dict(self) -> dict[str, Any]:
        return {"doc_id": self.doc_id, "kind": self.kind, "score": round(float(self.score), 4)}


@dataclass
class TriageResult:
    label: str
    confidence: float
    abstain: bool
    scores: dict[str, float]
    red_flags: list[str]
    evidence: list[Evidence]
    action: str
    backend: str = "offline"
    signals: dict[str, Any] = field(default_factory=dict)
    prompt: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label, "confidence": round(self.confidence, 4), "abstain": self.abstain,
            "scores": self.scores, "red_flags": self.red_flags,
            "evidence": [e.to_dict() for e in self.evidence], "action": self.action,
            "backend": self.backend, "signals": self.signals,
        }


@dataclass
class Knowledge:
    """The store's labelled cases and scripts with their vectors, and the model trained on them."""

    key: str
    generation: int
    cases: list[dict[str, Any]]
    scripts: list[dict[str, Any]]
    script_vectors: np.ndarray
    script_tfidf: Any
    model: TriageModel


def embed_texts(embedder, texts: list[str], chunk_chars: int = 360, overlap: int = 40) -> np.ndarray:
    """One vector per text: the normalised mean of its chunk vectors (as ingest chunks it), one encode call."""
    pieces: list[str] = []
    owner: list[int] = []
    for i, text in enumerate(texts):
        chunks = [c.embed_text for c in chunk_document(Document("q", text, "complaint"), chunk_chars, overlap)]
        for piece in chunks or [text or " "]:
            pieces.append(piece)
            owner.append(i)
    vectors = embedder.encode(pieces, "passage")
    out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
    np.add.at(out, np.asarray(owner), vectors)
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


class TriageEngine:
    def __init__(self, service, prompt_ref: str = "triage", use_llm: bool = True) -> None:
        self.service = service
        self.settings = service.settings
        self.prompt_ref = prompt_ref
        self.use_llm = use_llm
        self._knowledge: Knowledge | None = None
        self._lock = threading.Lock()

    # -- knowledge and model ----------------------------------------------------------------
    def knowledge(self) -> Knowledge:
        ledger = self.service.kb.ledger
        with self._lock:
            if self._knowledge is not None and self._knowledge.generation == ledger.generation:
                return self._knowledge
            generation = ledger.generation
            cases = [d for d in ledger.documents(kind="case") if d.get("label")]
            if len({d["label"] for d in cases}) < 2:
                raise TriageUnavailable(
                    f"知识库 {self.settings.store_dir} 中带标签的案例不足两类（现有 {len(cases)} 条），无法研判。"
                    "请先导入已标注案例：python -m ingest corpus/")
            scripts = ledger.documents(kind="script")
            embedder = self.service.embedder
            vectors = self._doc_vectors(cases + scripts)
            key = hashlib.sha256(json.dumps(
                [MODEL_VERSION, str(embedder.name), [(d["doc_id"], d["fingerprint"], d["label"]) for d in cases],
                 [(d["doc_id"], d["fingerprint"]) for d in scripts]]).encode()).hexdigest()[:20]
            model = self._load_or_train(key, cases, scripts, vectors[: len(cases)], vectors[len(cases):])
            script_tfidf = model.vectorizer.transform([_ngram(d["text"]) for d in scripts]) if scripts else None
            self._knowledge = Knowledge(key, generation, cases, scripts, vectors[len(cases):], script_tfidf, model)
            return self._knowledge

    def _load_or_train(self, key: str, cases, scripts, vectors: np.ndarray, script_vectors: np.ndarray) -> TriageModel:
        folder = self.settings.store_dir / "triage"
        path = folder / f"model-{key}.pkl"
        if path.exists():
            try:
                with open(path, "rb") as f:
                    return pickle.load(f)
            except Exception as exc:  # a stale or partial file: retrain
                log.warning("triage model cache %s unreadable (%s); retraining", path, exc)
        model = TriageModel.fit([d["doc_id"] for d in cases], [d["text"] for d in cases],
                                [d["label"] for d in cases], vectors, lexicon=self._lexicon(scripts),
                                aux=([d["text"] for d in scripts], [d.get("label") or "" for d in scripts], script_vectors),
                                embed=lambda texts: embed_texts(self.service.embedder, texts, self.settings.chunk_chars,
                                                                self.settings.chunk_overlap_chars),
                                neutral=LEGIT)
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("model-*.pkl"):
            old.unlink(missing_ok=True)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            pickle.dump(model, f)
        tmp.replace(path)
        log.info("triage model trained on %d cases: %s", len(cases), model.report)
        return model

    @staticmethod
    def _lexicon(scripts: list[dict[str, Any]]) -> dict[str, list[str]]:
        lexicon = {label: list(phrases) for label, phrases in LEXICON.items()}
        for d in scripts:
            flags = d["metadata"].get("red_flags") or []
            if d.get("label") and isinstance(flags, list):
                lexicon.setdefault(d["label"], []).extend(str(f) for f in flags)
        return lexicon

    def _doc_vectors(self, docs: list[dict[str, Any]]) -> np.ndarray:
        """Whole-document vectors, cached by fingerprint. Documents whose chunks carry no title
        context reuse the store's chunk vectors; titled ones are re-encoded from their text,
        because a complaint to classify has no title."""
        kb, embedder = self.service.kb, self.service.embedder
        model_tag = hashlib.sha1(str(embedder.name).encode()).hexdigest()[:10]
        path = self.settings.store_dir / "triage" / f"vectors-{model_tag}.pkl"
        cache: dict[str, tuple[str, np.ndarray]] = {}
        if path.exists():
            try:
                cache = pickle.loads(path.read_bytes())
            except Exception:
                cache = {}
        missing = [d for d in docs if cache.get(d["doc_id"], ("",))[0] != d["fingerprint"]]
        if missing:
            reuse, encode = self._from_store(kb, missing), []
            for d in missing:
                if d["doc_id"] in reuse:
                    cache[d["doc_id"]] = (d["fingerprint"], reuse[d["doc_id"]])
                else:
                    encode.append(d)
            for i in range(0, len(encode), 256):
                part = encode[i : i + 256]
                vecs = embed_texts(embedder, [d["text"] for d in part], self.settings.chunk_chars,
                                   self.settings.chunk_overlap_chars)
                cache.update({d["doc_id"]: (d["fingerprint"], v) for d, v in zip(part, vecs)})
            path.parent.mkdir(parents=True, exist_ok=True)
            keep = {d["doc_id"] for d in docs}
            path.write_bytes(pickle.dumps({k: v for k, v in cache.items() if k in keep}))
        dim = next(iter(cache.values()))[1].shape[0] if cache else 384
        return np.vstack([cache[d["doc_id"]][1] for d in docs]) if docs else np.zeros((0, dim), np.float32)

    @staticmethod
    def _from_store(kb, docs: list[dict[str, Any]]) -> dict[str, np.ndarray]:
        chunk_rows = {d["doc_id"]: kb.ledger.chunks_of(d["doc_id"]) for d in docs}
        ids = [r["chunk_id"] for rows in chunk_rows.values() if rows and not any(r["context"] for r in rows)
               for r in rows]
        if not ids:
            return {}
        got: dict[str, np.ndarray] = {}
        for i in range(0, len(ids), 1000):
            res = kb.vectors.collection.get(ids=ids[i : i + 1000], include=["embeddings"])
            got.update(zip(res["ids"], np.asarray(res["embeddings"], dtype=np.float32)))
        out = {}
        for doc_id, rows in chunk_rows.items():
            vecs = [got[r["chunk_id"]] for r in rows if r["chunk_id"] in got]
            if rows and len(vecs) == len(rows) and not any(r["context"] for r in rows):
                v = np.mean(vecs, axis=0)
                out[doc_id] = v / max(float(np.linalg.norm(v)), 1e-9)
        return out

    # -- classification -----------------------------------------------------------------------
    def classify(self, text: str) -> TriageResult:
        return self.classify_many([text])[0]

    def classify_many(self, texts: list[str], batch_size: int = 256) -> list[TriageResult]:
        know = self.knowledge()
        out: list[TriageResult] = []
        for i in range(0, len(texts), batch_size):
            out.extend(self._batch(know, [str(t or "") for t in texts[i : i + batch_size]]))
        return out

    def _batch(self, know: Knowledge, texts: list[str]) -> list[TriageResult]:
        model = know.model
        vectors = embed_texts(self.service.embedder, texts, self.settings.chunk_chars,
                              self.settings.chunk_overlap_chars)
        sig = model.signals(vectors, texts)
        script_dense = vectors @ know.script_vectors.T if know.scripts else np.zeros((len(texts), 0))
        script_kw = (np.asarray((model.vectorizer.transform([_ngram(t) for t in texts]) @ know.script_tfidf.T)
                                .todense()) if know.scripts else np.zeros((len(texts), 0)))
        llm = self._llm()
        results = []
        for row, text in enumerate(texts):
            probs = sig.probs[row]
            top = int(probs.argmax())
            label = model.labels[top]
            found = model.flags.find(text) if model.flags else {}
            evidence = self._case_evidence(know, sig, row) + self._script_evidence(know, script_dense[row], script_kw[row])
            result = TriageResult(
                label=label, confidence=round(float(probs[top]), 4), abstain=bool(sig.abstain[row]),
                scores={name: round(float(p), 4) for name, p in zip(model.labels, probs)},
                red_flags=[p for p, owners in found.items() if label in owners],
                evidence=evidence, action="",
                signals={
                    "parts": {p: _top(model.labels, v[row]) for p, v in sig.parts.items()},
                    "ood_score": round(float(sig.ood[row]), 4),
                    "nearest_case_similarity": round(float(sig.dense_sims[row].max()), 4),
                    "red_flags_by_label": {p: sorted(o) for p, o in found.items()},
                    "model": know.key,
                },
            )
            result.signals["support"] = model.support(sig, row)
            if model.without_evidence(sig, row, bool(result.red_flags)):
                result.abstain = True  # never black-industry without evidence: route to a person
                result.signals["no_evidence"] = True
            if llm is not None and text.strip():
                self._llm_vote(result, text, model.labels)
            result.action = _action(result)
            results.append(result)
        return results

    def _case_evidence(self, know: Knowledge, sig, row: int) -> list[Evidence]:
        ranked: dict[int, Evidence] = {}
        for via, sims in (("dense", sig.dense_sims[row]), ("keyword", sig.keyword_sims[row])):
            for j in np.argsort(-sims)[:N_CASES]:
                d = know.cases[int(j)]
                if int(j) in ranked:
                    ranked[int(j)].via = "dense+keyword"
                    continue
                ranked[int(j)] = Evidence(d["doc_id"], "case", float(sims[j]), d["label"], d.get("title") or "",
                                          d["text"], via)
        return sorted(ranked.values(), key=lambda e: (e.via != "dense+keyword", -e.score))[:N_CASES]

    def _script_evidence(self, know: Knowledge, dense: np.ndarray, keyword: np.ndarray) -> list[Evidence]:
        if not know.scripts:
            return []
        rank = np.argsort(np.argsort(-dense)) + np.argsort(np.argsort(-keyword))  # rank sum of both lists
        out = []
        for j in np.argsort(rank)[:N_SCRIPTS]:
            d = know.scripts[int(j)]
            out.append(Evidence(d["doc_id"], "script", float(dense[j]), d.get("label") or "", d.get("title") or "",
                                d["text"], "dense+keyword"))
        return out

    # -- the LLM vote -------------------------------------------------------------------------
    def _llm(self):
        if not self.use_llm or not self.settings.llm_configured:
            return None
        return self.service.llm

    def _llm_vote(self, result: TriageResult, text: str, labels: list[str]) -> None:
        from rag.triage_llm import ask_llm

        vote = ask_llm(self.service, self.prompt_ref, text, labels, result.evidence)
        result.prompt = vote.get("prompt", {})
        result.signals["llm"] = {k: v for k, v in vote.items() if k != "prompt"}
        if vote.get("label") is None:
            return
        result.backend = vote["backend"]
        q = np.full(len(labels), (1.0 - vote["confidence"]) / max(len(labels) - 1, 1))
        if vote["label"] == "unknown":
            result.abstain = True
            q = np.full(len(labels), 1.0 / len(labels))
        else:
            q[labels.index(vote["label"])] = vote["confidence"]
        probs = (1 - LLM_WEIGHT) * np.array([result.scores[n] for n in labels]) + LLM_WEIGHT * q
        top = int(probs.argmax())
        result.label, result.confidence = labels[top], round(float(probs[top]), 4)
        result.scores = {n: round(float(p), 4) for n, p in zip(labels, probs)}
        flags = result.signals.get("red_flags_by_label", {})
        result.red_flags = [p for p, o in flags.items() if result.label in o]
        result.red_flags += [p for p in vote.get("red_flags", []) if p not in result.red_flags]


def _ngram(text: str) -> str:
    from rag.triage_signals import ngram_text

    return ngram_text(text)


def _top(labels: list[str], p: np.ndarray, n: int = 3) -> dict[str, float]:
    return {labels[i]: round(float(p[i]), 4) for i in np.argsort(-p)[:n]}


def _action(result: TriageResult) -> str:
    if result.abstain:
        return ABSTAIN_ACTION
    info = LABEL_INFO.get(result.label)
    return info[1] if info else OTHER_ACTION.format(label=result.label)


def label_name(label: str) -> str:
    info = LABEL_INFO.get(label)
    return f"{info[0]}（{label}）" if info else label


__all__ = ["Evidence", "TriageEngine", "TriageResult", "TriageUnavailable", "embed_texts", "label_name"]

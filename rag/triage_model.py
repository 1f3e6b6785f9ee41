"""The learned part of complaint triage: features, classifiers, calibration and abstention.

Trained only on the labelled cases of the knowledge base, so the labels it can output are exactly
the labels present there. Five signals are combined, each kept visible:

- ``dense``: logistic regression on the sentence embedding (the mean of its chunk vectors);
- ``char``: logistic regression on TF-IDF character 1–3-grams (digits folded);
- ``knn_dense`` / ``knn_keyword``: similarity-weighted votes of the nearest labelled cases;
- ``red_flags``: the labels whose red-flag phrases (scripts' ``red_flags`` and a curated lexicon) occur.

Both classifiers also learn from short fragments of the longer cases (one or two sentences), since
complaints come in every length. Their weighted mixture is temperature-calibrated on out-of-fold
predictions. Abstention is tuned the same way: cross-validation gives known items, and
leave-one-label-out (each label in turn removed from training) simulates a scam type the cases do
not contain; a small model (logistic regression and gradient-boosted trees, averaged) over
confidence, margin, nearest-case cosines and n-gram coverage separates the two, its threshold set
so that about ``abstain_rate`` of known items abstain in each of two length bands (under
``SHORT_CHARS``, and longer): a one-line complaint sits further from every case than a case file
does, and one threshold would send most of them to a person. The taxonomy's evidence rule
(``without_evidence``) learns its floor out of fold as well.
Nothing outside the training cases is used for any of it. The pieces the signals are computed from
(n-gram text, red-flag matching, neighbour votes, fragments, density) are in :mod:`rag.triage_signals`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rag.triage_signals import (FlagMatcher, class_density, density, fragments, knn_votes, ngram_text, softmax,
                                 support_counts)

PARTS = ("dense", "char", "knn_dense", "knn_keyword", "red_flags")
# Chosen on the triage development set (evals/sets/triage_dev.jsonl, written apart from the corpus
# and the team set) once the corpus held short complaints of every label; out-of-fold accuracy agreed
# (0.843 -> 0.856). The dense neighbour vote still counts as evidence (support) but adds nothing to
# the mixture that the dense classifier does not already give.
WEIGHTS = {"dense": 0.2, "char": 0.45, "knn_dense": 0.0, "knn_keyword": 0.3, "red_flags": 0.05}
MIN_CONFIDENCE = 0.35  # below this calibrated probability an item always abstains
SHORT_CHARS = 120
N_SIMS = 5  # similarity features of the abstention rule (Signals.sims)
# A label other than the neutral one (the genuine complaint) needs evidence: one of its red flags, or
# this many of the four learned signals (two classifiers, two neighbour votes) pointing to it ...
MIN_SUPPORT = 3
# ... whenever the neutral label keeps a real share of the probability. That share (the evidence
# floor) is learned out of fold: the highest floor that keeps this share of the genuine complaints
# the rule stops from being labelled black-industry, so the rule does not send to a person the many
# black-industry items whose only alternative is another black-industry label.
EVIDENCE_KEEP = 0.9
CV_CAP = 1200  # cases used for calibration and abstention tuning (stratified sample beyond that)
@dataclass
class _Data:
    texts: list[str]
    y: np.ndarray
    vectors: np.ndarray
    frag_parent: np.ndarray
    frag_texts: list[str]
    frag_vectors: np.ndarray
    aux_texts: list[str]
    aux_y: np.ndarray
    aux_vectors: np.ndarray

    @property
    def size(self) -> int:
        return len(self.texts) + len(self.frag_texts)

    @property
    def all_texts(self) -> list[str]:
        return self.texts + self.frag_texts

    @property
    def all_vectors(self) -> np.ndarray:
        return np.vstack([self.vectors, self.frag_vectors])

    @property
    def all_y(self) -> np.ndarray:
        return np.r_[self.y, self.y[self.frag_parent]].astype(int)


@dataclass
class Signals:
    """Everything the model computed for a batch, aligned by row."""

    probs: np.ndarray  # calibrated, n × labels
    parts: dict[str, np.ndarray]  # each signal's own distribution
    dense_sims: np.ndarray  # n × training cases (cosine)
    keyword_sims: np.ndarray  # n × training cases (TF-IDF cosine)
    sims: np.ndarray  # n × N_SIMS similarity features of the abstention rule
    ood: np.ndarray  # abstention score (higher = less like any known label)
    abstain: np.ndarray  # bool


@dataclass
class TriageModel:
    labels: list[str]
    train_ids: list[str]
    train_y: np.ndarray
    train_vectors: np.ndarray
    vectorizer: object = None
    train_tfidf: object = None
    dense_clf: object = None
    char_clf: object = None
    temperature: float = 1.0
    abstain_clf: object = None
    abstain_threshold: float = np.inf
    short_threshold: float | None = None  # for texts under SHORT_CHARS: set on short cases and fragments
    neutral: int | None = None  # index of the label that needs no evidence (the genuine complaint)
    evidence_floor: float = 0.0  # see EVIDENCE_KEEP
    flags: FlagMatcher | None = None
    train_binary: object = None  # n-gram presence per training case (transposed), for coverage
    train_density: np.ndarray | None = None  # each case's mean cosine to its 5 nearest other cases
    train_class_density: np.ndarray | None = None  # the same, among the cases of its own label
    report: dict = field(default_factory=dict)

    # -- training ------------------------------------------------------------------------------
    @classmethod
    def fit(cls, doc_ids: list[str], texts: list[str], labels: list[str], vectors: np.ndarray,
            lexicon: dict[str, list[str]] | None = None, embed=None, aux: tuple | None = None,
            folds: int = 5, abstain_rate: float = 0.04, seed: int = 0, neutral: str | None = None) -> TriageModel:
        """Train on the labelled cases. ``embed`` (texts -> vectors), when given, embeds short
        fragments of the longer cases: complaints come in every length, and a classifier and an
        abstention rule that only ever saw whole case files would call a one-line complaint novel.
        ``aux`` = (texts, labels, vectors): other labelled material (the store's scripts) that the
        classifiers also learn from, for labels the cases have; it is never a neighbour or a test item.
        ``neutral``: the label that needs no evidence (the genuine complaint), when the cases have it."""
        from threadpoolctl import threadpool_limits

        names = sorted(set(labels))
        if len(names) < 2:
            raise ValueError(f"至少需要两种标签的已标注案例才能训练研判模型（现有：{names or '无'}）")
        y = np.array([names.index(label) for label in labels])
        frag_parent, frag_texts = fragments(texts, seed) if embed is not None else (np.zeros(0, int), [])
        frag_vectors = embed(frag_texts) if frag_texts else np.zeros((0, vectors.shape[1]), np.float32)
        aux_texts, aux_labels, aux_vectors = aux if aux is not None else ([], [], np.zeros((0, vectors.shape[1])))
        keep = [i for i, label in enumerate(aux_labels) if label in names]
        data = _Data(list(texts), y, np.asarray(vectors, np.float32), frag_parent, frag_texts, frag_vectors,
                     [aux_texts[i] for i in keep], np.array([names.index(aux_labels[i]) for i in keep], dtype=int),
                     np.asarray(aux_vectors, np.float32)[keep].reshape(len(keep), vectors.shape[1]))
        with threadpool_limits(1):  # L-BFGS on a sparse problem: BLAS threads only contend (measured 5x slower)
            flags = FlagMatcher({k: v for k, v in (lexicon or {}).items() if k in names})
            model = cls._fit_core(names, list(doc_ids), data, np.arange(len(y)), flags)
            oof, loco = model._cross_validate(data, folds, seed)
        model.temperature = _fit_temperature(oof["mix"], oof["y"])
        for run in (oof, loco):
            run["feats"] = _ood_features(model.calibrate(run["mix"]), run["sims"])
        model._fit_abstention(oof, loco, oof["y"], abstain_rate)
        if neutral in names:
            model.neutral = names.index(neutral)
            model.evidence_floor = model._fit_evidence_floor(oof)
        pred = oof["mix"].argmax(axis=1)
        model.report = {
            "cases": len(y), "fragments": len(frag_texts), "aux": len(keep), "labels": {n: int((y == i).sum()) for i, n in enumerate(names)},
            "cv_accuracy": float((pred == oof["y"]).mean()), "temperature": model.temperature,
            "abstain_threshold": model.abstain_threshold, "evidence_floor": model.evidence_floor, **model.report,
        }
        return model

    @classmethod
    def _fit_core(cls, names, ids, data: _Data, docs: np.ndarray, flags) -> TriageModel:
        """Classifiers on ``docs`` and their fragments; neighbours are the ``docs`` themselves."""
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        frags = np.flatnonzero(np.isin(data.frag_parent, docs))
        aux = np.flatnonzero(np.isin(data.aux_y, data.y[docs]))  # never a label the training part lacks
        texts = [data.texts[i] for i in docs] + [data.frag_texts[i] for i in frags] + [data.aux_texts[i] for i in aux]
        y = np.r_[data.y[docs], data.y[data.frag_parent[frags]], data.aux_y[aux]].astype(int)
        vectors = np.vstack([data.vectors[docs], data.frag_vectors[frags], data.aux_vectors[aux]])
        vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=1,
                              max_features=200_000, dtype=np.float32)
        tfidf = vec.fit_transform([ngram_text(t) for t in texts])
        dense = LogisticRegression(C=4.0, max_iter=2000, class_weight="balanced", solver="newton-cg").fit(vectors * 8.0, y)
        char = LogisticRegression(C=20.0, max_iter=2000, class_weight="balanced").fit(tfidf, y)
        n = len(docs)
        binary = tfidf[:n].copy()
        binary.data[:] = 1.0
        cases = vectors[:n].astype(np.float32)
        return cls(names, ids, y[:n], cases, vec, tfidf[:n], dense, char, flags=flags, train_binary=binary.T.tocsr(),
                   train_density=density(cases), train_class_density=class_density(cases, y[:n]))

    def _cross_validate(self, data: _Data, folds: int, seed: int):
        """Out-of-fold signals for every case and fragment, and leave-one-label-out signals."""
        from sklearn.model_selection import StratifiedKFold

        y, k = data.y, len(self.labels)
        folds = max(2, min(folds, int(np.bincount(y).min())))
        docs = _stratified_cap(y, CV_CAP, seed)  # bounded training time however many cases there are
        runs = [{"parts": {p: np.zeros((data.size, k)) for p in PARTS}, "sims": np.zeros((data.size, N_SIMS))}
                for _ in range(2)]
        for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(docs, y[docs]):
            self._held_out(data, docs[train], docs[test], runs[0])
        for label in range(k):
            train, test = docs[y[docs] != label], docs[y[docs] == label]
            if len(set(y[train])) >= 2:
                self._held_out(data, train, test, runs[1])
        rows = np.r_[docs, len(y) + np.flatnonzero(np.isin(data.frag_parent, docs))].astype(int)
        for run in runs:
            run["parts"] = {p: v[rows] for p, v in run["parts"].items()}
            run["sims"], run["mix"], run["y"] = run["sims"][rows], _mix(run["parts"]), data.all_y[rows]
            run["docs"] = len(docs)  # rows before this are whole cases, the rest their fragments
            run["texts"] = [data.all_texts[i] for i in rows]
            run["length"] = np.array([len(t) for t in run["texts"]])
        return runs

    def _held_out(self, data: _Data, train, test, out) -> None:
        sub = TriageModel._fit_core(self.labels, [], data, train, self.flags)
        rows = np.r_[test, len(data.y) + np.flatnonzero(np.isin(data.frag_parent, test))].astype(int)
        sig = sub.signals(data.all_vectors[rows], [data.all_texts[i] for i in rows], calibrated=False)
        for p in PARTS:  # on the full label axis; labels absent from ``train`` get ~0
            out["parts"][p][rows] = sig.parts[p]
        out["sims"][rows] = sig.sims

    def _fit_abstention(self, oof, loco, y, abstain_rate: float) -> None:
        from sklearn.ensemble import HistGradientBoostingClassifier
        from sklearn.linear_model import LogisticRegression

        known = oof["feats"]
        known_wrong = oof["mix"].argmax(axis=1) != y
        novel = loco["feats"][loco["sims"].any(axis=1)]
        x = np.vstack([known, novel])
        t = np.r_[known_wrong.astype(int), np.ones(len(novel), dtype=int)]
        w = np.r_[np.where(known_wrong, 0.5, 1.0), np.ones(len(novel)) * len(known) / max(len(novel), 1)]
        if len(set(t)) < 2:
            return
        # Two views of the same features, averaged: gradient-boosted trees find the corners where a
        # new scam type hides (tf5, one type held out: 0.43 of its items abstained with the linear
        # model alone, 0.64 with both); the linear model keeps the rule smooth where the text's style
        # differs from the cases' (trees alone sent far more such texts to a person).
        linear = LogisticRegression(C=1.0, max_iter=1000).fit(x, t, sample_weight=w)
        trees = HistGradientBoostingClassifier(max_iter=150, learning_rate=0.08, max_leaf_nodes=15,
                                               l2_regularization=1.0, random_state=0).fit(x, t, sample_weight=w)
        self.abstain_clf = _Blend([linear, trees])
        scores = self.abstain_clf.decision_function(known)
        loco_scores = self.abstain_clf.decision_function(novel) if len(novel) else np.zeros(0)
        # The rate holds per length band: a one-line complaint sits further from every case than a
        # case file does, so one threshold for all lengths would route most short complaints to a
        # person. Short rows are the short cases and the fragments of the long ones.
        short = oof["length"] < SHORT_CHARS
        long_rows = scores[~short] if (~short).any() else scores
        self.abstain_threshold = float(np.quantile(long_rows, 1.0 - abstain_rate))
        if short.sum() >= 20:
            self.short_threshold = float(np.quantile(scores[short], 1.0 - abstain_rate))
        novel_cut = self._thresholds(loco["length"][loco["sims"].any(axis=1)])
        self.report = {"cv_abstain_known": float((scores > self._thresholds(oof["length"])).mean()),
                       "cv_abstain_novel": float((loco_scores > novel_cut).mean()) if len(novel) else 0.0}

    def _fit_evidence_floor(self, oof) -> float:
        probs = self.calibrate(oof["mix"])
        top, y, neutral = probs.argmax(axis=1), oof["y"], self.neutral
        support = support_counts(oof["parts"], top)
        flagged = np.array([self.flagged(text, int(k)) for text, k in zip(oof["texts"], top)])
        caught = (top != neutral) & ~flagged & (support < MIN_SUPPORT) & (y == neutral)
        share = probs[caught, neutral]
        keep = EVIDENCE_KEEP * len(share)
        return float(max(f for f in np.round(np.arange(0.0, 0.51, 0.05), 2) if (share >= f).sum() >= keep))

    def flagged(self, text: str, label: int) -> bool:
        """Whether one of ``label``'s red-flag phrases occurs in ``text``."""
        return self.flags is not None and any(self.labels[label] in owners for owners in self.flags.find(text).values())

    def support(self, sig: Signals, row: int) -> int:
        """How many learned signals point to the row's top label."""
        top = np.array([sig.probs[row].argmax()])
        return int(support_counts({p: v[row : row + 1] for p, v in sig.parts.items()}, top)[0])

    def without_evidence(self, sig: Signals, row: int, flagged: bool) -> bool:
        """A non-neutral top label with no red flag of its own (``flagged``), fewer than MIN_SUPPORT
        learned signals behind it, and the neutral label above the evidence floor: route to a person."""
        top = int(sig.probs[row].argmax())
        if self.neutral is None or top == self.neutral or flagged:
            return False
        return self.support(sig, row) < MIN_SUPPORT and bool(sig.probs[row, self.neutral] >= self.evidence_floor)

    def _thresholds(self, lengths: np.ndarray) -> np.ndarray:
        """The abstention threshold of each text, by its length band."""
        out = np.full(len(lengths), self.abstain_threshold)
        if self.short_threshold is not None:
            out[np.asarray(lengths) < SHORT_CHARS] = self.short_threshold
        return out

    # -- inference -----------------------------------------------------------------------------
    def signals(self, vectors: np.ndarray, texts: list[str], calibrated: bool = True) -> Signals:
        n, k = len(texts), len(self.labels)
        tfidf = self.vectorizer.transform([ngram_text(t) for t in texts])
        dense_sims = np.asarray(vectors, dtype=np.float32) @ self.train_vectors.T
        keyword_sims = np.asarray((tfidf @ self.train_tfidf.T).todense(), dtype=np.float32)
        parts = {
            "dense": self._full(self.dense_clf, self.dense_clf.predict_proba(vectors * 8.0)),
            "char": self._full(self.char_clf, self.char_clf.predict_proba(tfidf)),
            "knn_dense": knn_votes(dense_sims, self.train_y, k)[0],
            "knn_keyword": knn_votes(keyword_sims, self.train_y, k, sharpness=10.0)[0],
            "red_flags": self.flags.votes(texts, self.labels) if self.flags else np.full((n, k), 1.0 / k),
        }
        mix = _mix(parts)
        probs = self.calibrate(mix) if calibrated else mix
        top5 = np.argsort(-dense_sims, axis=1)[:, :5]
        top5_mean = np.take_along_axis(dense_sims, top5, axis=1).mean(axis=1)
        sims = np.column_stack([top5_mean, dense_sims.max(axis=1), self._coverage(tfidf),
                                top5_mean - self.train_density[top5].mean(axis=1),
                                self._class_density_gap(dense_sims, mix.argmax(axis=1))])
        if self.abstain_clf is not None and calibrated:
            threshold = self._thresholds(np.array([len(t) for t in texts]))
            ood = self.abstain_clf.decision_function(_ood_features(probs, sims)) - threshold
        else:
            ood = np.zeros(n)
        abstain = (ood > 0) | (probs.max(axis=1) < MIN_CONFIDENCE)
        return Signals(probs, parts, dense_sims, keyword_sims, sims, ood, abstain)

    def _class_density_gap(self, dense_sims: np.ndarray, pred: np.ndarray, k: int = 5) -> np.ndarray:
        """How much less the text is surrounded by cases of its predicted label than those cases are
        by each other: a new scam type forced onto a known label sits at that label's edge."""
        out = np.zeros(len(pred), dtype=np.float32)
        for label in np.unique(pred):
            rows, members = np.flatnonzero(pred == label), np.flatnonzero(self.train_y == label)
            if not len(members):
                continue
            kk = min(k, len(members))
            sub = dense_sims[np.ix_(rows, members)]
            top = np.argpartition(-sub, kk - 1, axis=1)[:, :kk]
            near = np.take_along_axis(sub, top, axis=1).mean(axis=1)
            out[rows] = near - self.train_class_density[members[top]].mean(axis=1)
        return out

    def _coverage(self, tfidf) -> np.ndarray:
        """Best share of the text's n-grams (idf-weighted) that one training case contains: unlike
        cosine, it does not fall for a short text inside a long case file."""
        q = tfidf.copy()
        q.data[:] = 1.0
        q = q.multiply(self.vectorizer.idf_[None, :]).tocsr()
        total = np.asarray(q.sum(axis=1)).ravel()
        covered = (q @ self.train_binary).toarray()
        return covered.max(axis=1) / np.maximum(total, 1e-9) if covered.size else np.zeros(q.shape[0])

    def calibrate(self, mix: np.ndarray) -> np.ndarray:
        return softmax(np.log(mix) / self.temperature)

    def _full(self, clf, p: np.ndarray) -> np.ndarray:
        """Probabilities on the model's full label axis (a fold may lack a label)."""
        out = np.full((p.shape[0], len(self.labels)), 1e-6)
        out[:, clf.classes_] = p
        return out / out.sum(axis=1, keepdims=True)


class _Blend:
    """The mean decision function of several fitted binary classifiers."""

    def __init__(self, models: list) -> None:
        self.models = models

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        return np.mean([m.decision_function(x) for m in self.models], axis=0)


def _stratified_cap(y: np.ndarray, cap: int, seed: int) -> np.ndarray:
    """Indices of at most ``cap`` items, every label kept in proportion (all when there are fewer)."""
    if len(y) <= cap:
        return np.arange(len(y))
    rng = np.random.default_rng(seed)
    keep = [rng.permutation(np.flatnonzero(y == label))[: max(2, round(cap * np.mean(y == label)))]
            for label in np.unique(y)]
    return np.sort(np.concatenate(keep))


def _mix(parts: dict[str, np.ndarray]) -> np.ndarray:
    mix = sum(WEIGHTS[p] * parts[p] for p in PARTS)
    mix = np.clip(mix, 1e-6, None)
    return mix / mix.sum(axis=1, keepdims=True)


def _ood_features(probs: np.ndarray, sims: np.ndarray) -> np.ndarray:
    """Calibrated confidence and margin, plus the similarity features (top-5 and nearest dense
    cosine, best n-gram coverage, top-5 cosine relative to the neighbours' own density, and to the
    density of the predicted label's own cases)."""
    srt = np.sort(probs, axis=1)
    return np.column_stack([srt[:, -1], srt[:, -1] - srt[:, -2], sims])


def _fit_temperature(mix: np.ndarray, y: np.ndarray) -> float:
    """The temperature on log-probabilities that minimises out-of-fold negative log-likelihood."""
    logp = np.log(mix)
    best, best_t = np.inf, 1.0
    for t in np.exp(np.linspace(np.log(0.2), np.log(3.0), 60)):
        p = softmax(logp / t)
        nll = -np.log(p[np.arange(len(y)), y] + 1e-12).mean()
        if nll < best:
            best, best_t = nll, float(t)
    return best_t

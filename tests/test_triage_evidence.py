"""The taxonomy's evidence rule in the triage model: a black-industry label with no red flag of its own
and little agreement among the learned signals goes to a person, while the genuine-complaint label
keeps at least the evidence floor learned out of fold."""

import numpy as np
import pytest

from rag.triage_model import MIN_SUPPORT, Signals, TriageModel
from rag.triage_signals import FlagMatcher, support_counts

LABELS = ["debt_evasion", "legit_complaint"]
A, LEGIT = 0, 1


def model(floor: float = 0.0) -> TriageModel:
    m = TriageModel(LABELS, [], np.zeros(0, int), np.zeros((0, 2)), flags=FlagMatcher({"debt_evasion": ["停息挂账"]}))
    m.neutral, m.evidence_floor = LEGIT, floor
    return m


def parts(rows: list[tuple[float, int]]) -> dict[str, np.ndarray]:
    """Per row (legit probability of every part, how many learned parts point to A)."""
    out = {p: np.zeros((len(rows), 2)) for p in ("dense", "char", "knn_dense", "knn_keyword", "red_flags")}
    for i, (_p, agree) in enumerate(rows):
        for j, p in enumerate(("dense", "char", "knn_dense", "knn_keyword")):
            out[p][i] = [0.9, 0.1] if j < agree else [0.1, 0.9]
        out["red_flags"][i] = [0.5, 0.5]
    return out


def signals(rows: list[tuple[float, int]]) -> Signals:
    probs = np.array([[1 - p_legit, p_legit] for p_legit, _ in rows])
    n = len(rows)
    return Signals(probs, parts(rows), np.zeros((n, 1)), np.zeros((n, 1)), np.zeros((n, 5)), np.zeros(n), np.zeros(n, bool))


def test_support_counts_the_learned_signals_only():
    p = parts([(0.3, 0), (0.3, 2), (0.3, 4)])
    p["red_flags"][:] = [1.0, 0.0]  # the red-flag vote never counts as support
    assert support_counts(p, np.array([A, A, A])).tolist() == [0, 2, 4]


@pytest.mark.parametrize(("row", "text", "expected"), [
    ((0.30, 1), "我要求你们先把利息全免了", True),          # little support, the genuine label still plausible
    ((0.05, 1), "我要求你们先把利息全免了", False),         # the genuine label below the floor
    ((0.30, MIN_SUPPORT), "我要求你们先把利息全免了", False),  # enough signals agree
    ((0.30, 1), "我要求停息挂账，利息全免", False),          # a red flag of the label is evidence
    ((0.70, 1), "我要求你们先把利息全免了", False),         # top label is the genuine complaint itself
])
def test_without_evidence(row, text, expected):
    m = model(floor=0.2)
    assert m.without_evidence(signals([row]), 0, m.flagged(text, A)) is expected


def test_no_neutral_label_means_no_rule():
    m = model(floor=0.0)
    m.neutral = None
    assert not m.without_evidence(signals([(0.3, 0)]), 0, False)


def test_the_floor_keeps_most_of_what_the_rule_protects_out_of_fold():
    # Ten genuine complaints wrongly labelled A without evidence, their genuine share 0.25-0.34;
    # twenty correct A items without evidence whose genuine share is tiny.
    caught = [(0.25 + 0.01 * i, 1) for i in range(10)]
    correct = [(0.02, 1)] * 20
    rows = caught + correct
    mix = np.array([[1 - p, p] for p, _ in rows])
    oof = {"mix": mix, "parts": parts(rows), "y": np.array([LEGIT] * 10 + [A] * 20), "texts": ["没有红旗词"] * 30}
    floor = model()._fit_evidence_floor(oof)
    stopped = sum(p >= floor for p, _ in caught)
    assert floor == pytest.approx(0.25) and stopped == 10  # 0.30 would keep only 5 of the 10
    assert all(p < floor for p, _ in correct)  # the correct items no longer go to a person

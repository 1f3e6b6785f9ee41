"""Load and check the sample knowledge base shipped under ``corpus/``.

Used by ``tests/test_corpus.py`` and ``corpus/tools/corpus_stats.py`` so that both
apply one schema and one shingle rule.  Standard library plus PyYAML only.

Documents come back as plain dicts with at least ``id``, ``kind`` and ``text``;
regulations also carry their front-matter fields, and every document carries
``_source`` (the file it came from, relative to the corpus root) for messages.
The schema itself is described in ``corpus/README.md``.
"""
from __future__ import annotations

import datetime as dt
import itertools
import json
import re
from pathlib import Path

import yaml

SHINGLE_N = 5
MAX_OVERLAP = 0.5  # |A∩B| / min(|A|, |B|) over 5-character shingles

# ../shared/TAXONOMY.md, spelled exactly so
BLACK_LABELS = (
    "proxy_rights",
    "debt_evasion",
    "credit_repair",
    "loan_broker",
    "impersonation",
    "deepfake",
)
LABELS = BLACK_LABELS + ("legit_complaint",)

ID_PATTERNS = {
    "regulation": re.compile(r"reg-\d{3}"),
    "script": re.compile(r"scr-\d{3}"),
    "case": re.compile(r"case-\d{4}"),
}
ANY_DOC_ID = re.compile(r"(?:reg-\d{3}|scr-\d{3}|case-\d{4})")
TEMPLATE_ID = re.compile(r"tpl-[a-z0-9][a-z0-9-]*")
MONTH = re.compile(r"\d{4}-\d{2}")
DAY = re.compile(r"\d{4}-\d{2}-\d{2}")

REQUIRED = {
    "regulation": ("id", "kind", "title", "issuer", "topics", "source", "text"),
    "script": ("id", "kind", "title", "text", "label", "red_flags", "channel"),
    "case": ("id", "kind", "text", "label", "date", "region", "channel", "outcome", "identifiers"),
}
DOC_TYPES = (
    "法律", "行政法规", "部门规章", "规范性文件", "司法解释", "司法文件",
    "风险提示", "自律规则", "行业倡议", "行业标准",
)
IDENTIFIER_TYPES = (
    "mobile", "landline", "id_card", "bank_card", "wechat", "qq", "email", "url", "org", "amount", "date",
)
ACCESS = ("public", "investigator")
MIN_REGULATION_BODY = 300


# --------------------------------------------------------------------------- loading
def split_front_matter(raw: str, where: str) -> tuple[dict, str]:
    """``---\\n<yaml>\\n---\\n<body>`` → (metadata, body)."""
    m = re.match(r"---\n(.*?)\n---\n(.*)\Z", raw, re.S)
    if not m:
        raise ValueError(f"{where}: no YAML front matter (the file must start with a '---' block)")
    meta = yaml.safe_load(m.group(1)) or {}
    if not isinstance(meta, dict):
        raise ValueError(f"{where}: front matter is not a mapping")
    # YAML turns 2021-08-20 into a date object: keep every date as the ISO text it was written as
    for key, value in meta.items():
        if isinstance(value, dt.date):
            meta[key] = value.isoformat()
    return meta, m.group(2).strip()


def load_regulations(root: Path) -> list[dict]:
    docs = []
    for path in sorted((root / "regulations").glob("*.md")):
        meta, body = split_front_matter(path.read_text(encoding="utf-8"), str(path))
        docs.append({**meta, "text": body, "_source": str(path.relative_to(root))})
    return docs


def load_jsonl(path: Path) -> list[dict]:
    rows = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{n}: not valid JSON ({e.msg})") from None
            if not isinstance(row, dict):
                raise ValueError(f"{path}:{n}: a row must be a JSON object")
            rows.append(row)
    return rows


def load_rows(root: Path, folder: str) -> list[dict]:
    docs = []
    for path in sorted((root / folder).glob("*.jsonl")):
        for n, row in enumerate(load_jsonl(path), 1):
            docs.append({**row, "_source": f"{path.relative_to(root)}:{n}"})
    return docs


def load_corpus(root) -> list[dict]:
    """Every regulation, script and case under ``root`` (the ``corpus/`` folder)."""
    root = Path(root)
    return load_regulations(root) + load_rows(root, "scripts") + load_rows(root, "cases")


# --------------------------------------------------------------------------- shingles
def shingles(text: str, n: int = SHINGLE_N) -> set[int]:
    """Hashes of the n-character shingles of ``text`` with all whitespace removed."""
    t = re.sub(r"\s+", "", text)
    return {hash(t[i : i + n]) for i in range(max(1, len(t) - n + 1))}


def overlap(a: set, b: set) -> float:
    """Share of the smaller shingle set that the other set contains."""
    if not a or not b:
        return 0.0
    if len(a) > len(b):
        a, b = b, a
    return len(a & b) / len(a)


def same_template(a: dict, b: dict) -> bool:
    return bool(a.get("template_id")) and a.get("template_id") == b.get("template_id")


def overlap_pairs(docs: list[dict], threshold: float = 0.0):
    """(score, id_a, id_b) for every pair of documents not sharing a template_id
    whose overlap exceeds ``threshold``, highest first."""
    sets = [shingles(d.get("text", "")) for d in docs]
    out = []
    for i, j in itertools.combinations(range(len(docs)), 2):
        if same_template(docs[i], docs[j]):
            continue
        score = overlap(sets[i], sets[j])
        if score > threshold:
            out.append((score, docs[i]["id"], docs[j]["id"]))
    out.sort(reverse=True)
    return out


def largest_overlap(docs: list[dict]):
    """The most similar pair of documents not sharing a template_id, or None."""
    pairs = overlap_pairs(docs)
    return pairs[0] if pairs else None


# --------------------------------------------------------------------------- schema
def is_date(value, *, day_required: bool = False) -> bool:
    """``YYYY-MM-DD`` (or ``YYYY-MM`` unless ``day_required``) naming a real date."""
    if not isinstance(value, str):
        return False
    try:
        if DAY.fullmatch(value):
            dt.date.fromisoformat(value)
            return True
        if MONTH.fullmatch(value) and not day_required:
            dt.date.fromisoformat(value + "-01")
            return True
    except ValueError:
        return False
    return False


def nonempty_str(value) -> bool:
    return isinstance(value, str) and value.strip() != ""


def validate_common(doc: dict) -> list[str]:
    kind = doc.get("kind")
    if kind not in REQUIRED:
        return [f"kind must be one of {sorted(REQUIRED)}, got {kind!r}"]
    errors = [f"missing required field {f!r}" for f in REQUIRED[kind] if f not in doc]
    doc_id = doc.get("id")
    if not isinstance(doc_id, str) or not ID_PATTERNS[kind].fullmatch(doc_id):
        errors.append(f"id {doc_id!r} does not match {ID_PATTERNS[kind].pattern} for kind {kind}")
    if not nonempty_str(doc.get("text")):
        errors.append("text is empty")
    if "title" in doc and not nonempty_str(doc["title"]):
        errors.append("title is empty")
    if "template_id" in doc and not (
        isinstance(doc["template_id"], str) and TEMPLATE_ID.fullmatch(doc["template_id"])
    ):
        errors.append(f"template_id {doc['template_id']!r} does not match {TEMPLATE_ID.pattern}")
    if "label" in doc and doc["label"] not in LABELS:
        errors.append(f"label {doc['label']!r} is not a taxonomy code {LABELS}")
    return errors


def validate_regulation(doc: dict) -> list[str]:
    errors = []
    for f in ("title", "issuer", "source"):
        if f in doc and not nonempty_str(doc[f]):
            errors.append(f"{f} is empty")
    topics = doc.get("topics")
    if not (isinstance(topics, list) and topics and all(nonempty_str(t) for t in topics)):
        errors.append("topics must be a non-empty list of strings")
    if "doc_type" in doc and doc["doc_type"] not in DOC_TYPES:
        errors.append(f"doc_type {doc['doc_type']!r} not in {DOC_TYPES}")
    if "doc_number" in doc and not nonempty_str(doc["doc_number"]):
        errors.append("doc_number is present but empty: omit the key when the number is not known")
    for f in ("date", "effective"):
        if f in doc and not is_date(doc[f]):
            errors.append(f"{f} {doc[f]!r} is not YYYY-MM-DD or YYYY-MM")
    if len(doc.get("text", "")) < MIN_REGULATION_BODY:
        errors.append(f"body has {len(doc.get('text', ''))} characters, fewer than {MIN_REGULATION_BODY}")
    return errors


def validate_script(doc: dict) -> list[str]:
    errors = []
    if doc.get("label") not in BLACK_LABELS:
        errors.append(f"a script's label must be a black-industry code {BLACK_LABELS}, got {doc.get('label')!r}")
    flags = doc.get("red_flags")
    if not (isinstance(flags, list) and flags and all(nonempty_str(f) for f in flags)):
        errors.append("red_flags must be a non-empty list of strings")
    else:
        text = doc.get("text", "")
        errors += [f"red flag {f!r} is not a substring of text" for f in flags if f not in text]
    if not nonempty_str(doc.get("channel")):
        errors.append("channel is empty")
    if "date" in doc and not is_date(doc["date"]):
        errors.append(f"date {doc['date']!r} is not YYYY-MM or YYYY-MM-DD")
    return errors


def validate_case(doc: dict) -> list[str]:
    errors = []
    if not is_date(doc.get("date"), day_required=True):
        errors.append(f"date {doc.get('date')!r} is not YYYY-MM-DD")
    for f in ("region", "channel", "outcome"):
        if f in doc and not nonempty_str(doc[f]):
            errors.append(f"{f} is empty")
    idents = doc.get("identifiers")
    if not isinstance(idents, list):
        errors.append("identifiers must be a list of {type, value}")
    else:
        for item in idents:
            if not (isinstance(item, dict) and nonempty_str(item.get("value"))):
                errors.append(f"identifier {item!r} needs a non-empty value")
            elif item.get("type") not in IDENTIFIER_TYPES:
                errors.append(f"identifier type {item.get('type')!r} not in {IDENTIFIER_TYPES}")
    if "access" in doc and doc["access"] not in ACCESS:
        errors.append(f"access {doc['access']!r} not in {ACCESS}")
    return errors


KIND_VALIDATORS = {"regulation": validate_regulation, "script": validate_script, "case": validate_case}


def validate_doc(doc: dict) -> list[str]:
    """Every schema problem of one document, as messages (empty when it is valid)."""
    errors = validate_common(doc)
    if doc.get("kind") in KIND_VALIDATORS:
        errors += KIND_VALIDATORS[doc["kind"]](doc)
    return errors


def duplicate_ids(rows: list[dict]) -> list[str]:
    seen, dups = set(), []
    for row in rows:
        if row.get("id") in seen:
            dups.append(row.get("id"))
        seen.add(row.get("id"))
    return dups


# --------------------------------------------------------------------------- eval sets
def referenced_doc_ids(value) -> set[str]:
    """Every string inside ``value`` (nested lists/dicts) that is exactly a corpus id."""
    if isinstance(value, str):
        return {value} if ANY_DOC_ID.fullmatch(value) else set()
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return set().union(*(referenced_doc_ids(v) for v in value)) if value else set()
    return set()


def validate_retrieval_row(row: dict, docs_by_id: dict) -> list[str]:
    errors = []
    if not (isinstance(row.get("id"), str) and re.fullmatch(r"ret-\d{3}", row["id"])):
        errors.append(f"id {row.get('id')!r} does not match ret-NNN")
    if not nonempty_str(row.get("query")):
        errors.append("query is empty")
    relevant = row.get("relevant")
    if not (isinstance(relevant, list) and relevant):
        errors.append("relevant must be a non-empty list of document ids")
        return errors
    if row.get("kind") not in ("regulation", "script", "case"):
        errors.append(f"kind {row.get('kind')!r} must be regulation, script or case")
    for doc_id in relevant:
        doc = docs_by_id.get(doc_id)
        if doc is None:
            errors.append(f"relevant id {doc_id!r} is not in the corpus")
        elif doc["kind"] != row.get("kind"):
            errors.append(f"relevant id {doc_id!r} is a {doc['kind']}, the row says {row.get('kind')}")
    return errors


def validate_answer_row(row: dict, docs_by_id: dict) -> list[str]:
    errors = []
    if not (isinstance(row.get("id"), str) and re.fullmatch(r"ans-\d{3}", row["id"])):
        errors.append(f"id {row.get('id')!r} does not match ans-NNN")
    if not nonempty_str(row.get("question")):
        errors.append("question is empty")
    answerable = row.get("answerable")
    must, cite = row.get("must_include"), row.get("cite")
    if not isinstance(answerable, bool) or not isinstance(must, list) or not isinstance(cite, list):
        return errors + ["answerable must be a bool, must_include and cite lists"]
    if not answerable:
        if must or cite:
            errors.append("an unanswerable question has empty must_include and cite")
        return errors
    if not must or not cite:
        errors.append("an answerable question needs must_include and cite")
    cited_text = ""
    for doc_id in cite:
        if doc_id not in docs_by_id:
            errors.append(f"cited id {doc_id!r} is not in the corpus")
        else:
            cited_text += re.sub(r"\s+", "", docs_by_id[doc_id]["text"])
    for phrase in must:
        if not (isinstance(phrase, str) and 2 <= len(phrase) <= 12):
            errors.append(f"must_include phrase {phrase!r} should be 2–12 characters")
        elif re.sub(r"\s+", "", phrase) not in cited_text:
            errors.append(f"must_include phrase {phrase!r} does not occur in the cited documents")
    return errors

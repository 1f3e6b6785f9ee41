"""``python -m rag triage`` and ``python -m rag campaigns``.

Both read complaints from JSONL, CSV or XLSX (``--text-field`` / ``--id-field`` name the columns) or
``-`` (JSONL on standard input). ``triage`` writes one JSONL line per input, in order:
``{"id","label","confidence","abstain","scores","red_flags","evidence","action",…}``.
``campaigns`` prints ``{"campaigns":[…]}`` (template clusters), from the input or from the store.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rag.cli import CLIError, _store_arg, command, dump, open_output, service_for


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise CLIError(f"{path} 的编码无法识别（支持 UTF-8、GB18030）")


def _raw_rows(path: str) -> Iterator[dict[str, Any]]:
    if path == "-":
        yield from _jsonl_rows(sys.stdin.read(), "标准输入")
        return
    p = Path(path)
    if not p.is_file():
        raise CLIError(f"找不到输入文件 {path}")
    suffix = p.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        yield from _jsonl_rows(_read_text(p), path)
    elif suffix == ".csv":
        yield from csv.DictReader(io.StringIO(_read_text(p)))
    elif suffix in (".xlsx", ".xlsm"):
        yield from _xlsx_rows(p)
    else:
        raise CLIError(f"不支持的输入文件类型 {suffix or '（无扩展名）'}：{path}（支持 .jsonl .csv .xlsx）")


def _jsonl_rows(text: str, name: str) -> Iterator[dict[str, Any]]:
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CLIError(f"{name} 第 {lineno} 行不是合法 JSON：{exc.msg}") from None
        if not isinstance(row, dict):
            raise CLIError(f"{name} 第 {lineno} 行应为 JSON 对象")
        yield row


def _xlsx_rows(path: Path) -> Iterator[dict[str, Any]]:
    try:
        import openpyxl
    except ImportError:
        raise CLIError("读取 XLSX 需要 openpyxl：pip install openpyxl") from None
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:
        raise CLIError(f"无法读取 XLSX 文件 {path}：{exc}") from None
    rows = book.active.iter_rows(values_only=True)
    header = [str(h).strip() if h is not None else "" for h in next(rows, [])]
    for values in rows:
        if any(v not in (None, "") for v in values):
            yield {h: ("" if v is None else v) for h, v in zip(header, values) if h}


def read_rows(path: str, text_field: str = "text", id_field: str | None = None) -> list[dict[str, Any]]:
    """Rows with ``id`` and ``text`` (other fields kept), or a CLIError naming the bad row."""
    out = []
    for n, row in enumerate(_raw_rows(path), start=1):
        text = row.get(text_field)
        if text is None:
            raise CLIError(f"{path} 第 {n} 条记录缺少文本字段 {text_field!r}（可用 --text-field 指定，"
                           f"现有字段：{', '.join(map(str, row)) or '无'}）")
        ids = [id_field] if id_field else ["id", "doc_id"]
        rid = next((str(row[k]) for k in ids if row.get(k) not in (None, "")), str(n))
        out.append({**row, "id": rid, "text": str(text)})
    return out


def _input_args(p: argparse.ArgumentParser, required: bool) -> None:
    p.add_argument("--input", required=required, help="JSONL / CSV / XLSX 文件，或 -（标准输入 JSONL）")
    p.add_argument("--output", help="输出文件，默认标准输出")
    p.add_argument("--text-field", default="text", help="文本所在字段/列（默认 text）")
    p.add_argument("--id-field", help="编号所在字段/列（默认 id 或 doc_id，否则行号）")
    _store_arg(p)


@command("triage", "投诉研判：逐条给出标签、置信度、是否转人工、红旗短语与证据（JSONL）")
def _triage_args(p: argparse.ArgumentParser) -> None:
    _input_args(p, required=True)
    p.add_argument("--prompt", default="triage", help="大模型提示词版本，例如 triage@1（仅在配置大模型时使用）")
    p.add_argument("--offline", action="store_true", help="即使配置了大模型也只用离线引擎")
    p.add_argument("--batch", type=int, default=256, help="每批条数（一次向量编码）")


@_triage_args.handler
def _triage(args: argparse.Namespace) -> int:
    from rag.triage import TriageEngine

    rows = read_rows(args.input, args.text_field, args.id_field)
    engine = TriageEngine(service_for(args), prompt_ref=args.prompt, use_llm=not args.offline)
    out = open_output(args.output)
    try:
        for i in range(0, len(rows), max(1, args.batch)):
            part = rows[i : i + max(1, args.batch)]
            for row, result in zip(part, engine.classify_many([r["text"] for r in part])):
                out.write(dump({"id": row["id"], **result.to_dict()}) + "\n")
            out.flush()
    finally:
        if out is not sys.stdout:
            out.close()
    return 0


@command("campaigns", "模板投诉聚类：找出同一模板改名换数的投诉群（JSON）")
def _campaigns_args(p: argparse.ArgumentParser) -> None:
    _input_args(p, required=False)
    p.add_argument("--date-field", default="date")
    p.add_argument("--channel-field", default="channel")
    p.add_argument("--min-size", type=int, default=3, help="最小簇大小（默认 3）")
    p.add_argument("--threshold", type=float, default=0.5, help="MinHash 估计的 Jaccard 阈值（默认 0.5）")
    p.add_argument("--embed", action="store_true", help="对阈值附近的候选对用向量相似度复核（较慢）")


@_campaigns_args.handler
def _campaigns(args: argparse.Namespace) -> int:
    from rag.campaigns import Complaint, find_campaigns

    if not 0 < args.threshold <= 1:
        raise CLIError(f"--threshold 应在 (0, 1] 之间，收到 {args.threshold}")
    svc = None
    if args.input:
        rows = read_rows(args.input, args.text_field, args.id_field)
        items = [Complaint(r["id"], r["text"], str(r.get(args.date_field) or ""), str(r.get(args.channel_field) or ""))
                 for r in rows]
    else:
        svc = service_for(args)
        docs = [d for kind in ("complaint", "case") for d in svc.kb.ledger.documents(kind=kind)]
        items = [Complaint(d["doc_id"], d["text"], d.get("date") or "", str(d["metadata"].get("channel") or ""))
                 for d in docs]
    embed = None
    if args.embed:
        svc = svc or service_for(args)
        from rag.triage import embed_texts

        embed = lambda texts: embed_texts(svc.embedder, texts)  # noqa: E731
    found = find_campaigns(items, min_size=args.min_size, threshold=args.threshold, embed=embed)
    out = open_output(args.output)
    out.write(dump({"complaints": len(items), "campaigns": [c.to_dict() for c in found]}) + "\n")
    out.flush()
    return 0

"""``python -m rag entities | leads | draft | share``: identifiers, link groups, reply drafts, 线索对碰.

Registered through ``rag.cli.command``; each reads JSONL ``{"id","text"}`` from a file or ``-``
and writes JSON or JSONL, exits 0 on success and 1 with one clear line on failure.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rag.cli import CLIError, command, dump, open_output, read_jsonl, service_for


def _store_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", help="知识库目录（默认 <XS_DATA_DIR>/store）")


def _items(args: argparse.Namespace, svc) -> list[dict[str, Any]]:
    """Items from --input, else the cases in the store."""
    if getattr(args, "input", None):
        return list(read_jsonl(args.input))
    items = svc.leads.store_items()
    if not items:
        raise CLIError(f"知识库 {svc.settings.store_dir} 中没有案件：请用 --input 指定 JSONL，或先运行 python -m ingest corpus/")
    return items


# -- entities ------------------------------------------------------------------------------------
@command("entities", "标识提取：手机号、座机、身份证、银行卡、微信、QQ、邮箱、网址、机构、金额、日期（JSONL）")
def _entities_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input", required=True, help="JSONL 文件（{id,text}）或 -")
    p.add_argument("--output", help="输出文件，默认标准输出")
    p.add_argument("--all", action="store_true", help="也输出被投诉机构本身的名称（默认略去，它们不是线索）")


@_entities_args.handler
def _entities(args: argparse.Namespace) -> int:
    from rag.leads import LeadFinder

    finder = LeadFinder()
    out = open_output(args.output)
    for row in read_jsonl(args.input):
        entities = finder.entities(str(row["text"]), include_institutions=args.all)
        out.write(dump({"id": row["id"], "entities": [e.to_dict() for e in entities]}) + "\n")
    out.flush()
    return 0


# -- leads ---------------------------------------------------------------------------------------
@command("leads", "线索关联：按共用标识与相同模板把案件分组，按风险排序（JSON）；可导出线索汇总")
def _leads_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input", help="JSONL 文件（{id,text}，可含 date/label/region/channel）或 -；缺省为知识库中的案件")
    _store_arg(p)
    p.add_argument("--json", action="store_true", help="输出 JSON（默认即为 JSON）")
    p.add_argument("--min-size", type=int, default=2, help="最小组规模（默认 2）")
    p.add_argument("--access", help="只看这些访问级别的案件，逗号分隔，例如 public")
    p.add_argument("--summary", metavar="GROUP|IDS", help="为线索组（如 L01）或逗号分隔的案件编号生成线索汇总")
    p.add_argument("--markdown", metavar="FILE", help="线索汇总写成 Markdown（关联图 PNG 放在旁边）")
    p.add_argument("--docx", metavar="FILE", help="线索汇总写成 DOCX")


@_leads_args.handler
def _leads(args: argparse.Namespace) -> int:
    from rag.leads import LeadFinder

    svc = service_for(args)
    access = {a.strip() for a in args.access.split(",")} if args.access else None
    finder = LeadFinder(svc, access=access)
    items = list(read_jsonl(args.input)) if args.input else None
    if items is None and not finder.store_items():
        raise CLIError(f"知识库 {svc.settings.store_dir} 中没有案件：请用 --input 指定 JSONL，或先运行 python -m ingest corpus/")
    result = finder.groups(items, min_size=args.min_size)
    if not args.summary:
        print(dump(result))
        return 0
    by_id = {g["id"]: g for g in result["groups"]}
    target = by_id.get(args.summary) or [x.strip() for x in args.summary.split(",") if x.strip()]
    summary = finder.summary(target, items)
    if args.markdown:
        summary.write_markdown(args.markdown)
    if args.docx:
        summary.to_docx(args.docx)
    if not (args.markdown or args.docx):
        print(summary.markdown)
    return 0


# -- draft ---------------------------------------------------------------------------------------
@command("draft", "回复起草：依据检索到的规定起草答复并逐条检查（JSON / JSONL）")
def _draft_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("complaint", nargs="?", help="投诉原文")
    p.add_argument("--label", help="研判标签（缺省时调用投诉研判）")
    p.add_argument("--input", help="批量：JSONL 文件（{id,text[,label]}）或 -")
    p.add_argument("--output", help="批量输出文件，默认标准输出")
    p.add_argument("--docx", metavar="FILE", help="单条：把草稿写成 DOCX")
    _store_arg(p)
    p.add_argument("--json", action="store_true", help="输出 JSON")


@_draft_args.handler
def _draft(args: argparse.Namespace) -> int:
    from rag.draft import DraftError

    if not args.complaint and not args.input:
        raise CLIError("请给出投诉原文，或用 --input 指定批量文件")
    svc = service_for(args)
    try:
        if args.input:
            out = open_output(args.output)
            for row in read_jsonl(args.input):
                result = svc.drafts.draft(str(row["text"]), row.get("label") or args.label)
                out.write(dump({"id": row["id"], **result.to_dict()}) + "\n")
            out.flush()
            return 0
        result = svc.drafts.draft(args.complaint, args.label)
    except DraftError as exc:
        raise CLIError(str(exc)) from None
    if args.docx:
        from rag.export import text_to_docx

        text_to_docx(result.text, args.docx)
    if args.json:
        print(dump(result.to_dict()))
    else:
        print(result.text)
        for c in result.checks:
            print(f"[{'通过' if c['passed'] else '未通过'}] {c['rule']}：{c['detail']}")
    return 0


# -- share ---------------------------------------------------------------------------------------
@command("share", "线索对碰：导出联盟共享文件（只含 HMAC 摘要）或比对其他成员的共享文件")
def _share_args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    e = sub.add_parser("export", help="导出本机构的共享文件")
    e.add_argument("--output", required=True, help="共享文件路径（.json）")
    m = sub.add_parser("match", help="比对其他成员的共享文件，报告共同出现的标识")
    m.add_argument("file", help="对方的共享文件")
    m.add_argument("--output", help="比对报告（JSON），默认标准输出")
    for q in (e, m):
        q.add_argument("--input", help="本机构案件 JSONL（{id,text,label,date}）或 -；缺省为知识库中的案件")
        q.add_argument("--institution", default="", help="本机构名称（写入文件头）")
        _store_arg(q)


@_share_args.handler
def _share(args: argparse.Namespace) -> int:
    from rag.share import ShareError, export_share, match_share, read_share, write_share

    svc = service_for(args)
    try:
        if args.action == "export":
            share = export_share(_items(args, svc), svc.settings.alliance_key, args.institution)
            write_share(share, args.output)
            print(f"已导出共享文件 {args.output}：{share['count']} 条摘要（不含任何原始标识）")
            return 0
        report = match_share(_items(args, svc), read_share(args.file), svc.settings.alliance_key, args.institution)
    except ShareError as exc:
        raise CLIError(str(exc)) from None
    text = json.dumps(report, ensure_ascii=False, indent=1)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"比对完成：{len(report['matches'])} 个共同标识，报告已写入 {args.output}")
    else:
        print(text)
    return 0

"""``python -m rag``: search, ask and the other task commands, JSON in and out.

Every command exits 0 on success and 1 with one clear line on failure; ``--debug`` shows the
traceback. Batch forms read JSONL ``{"id","text"}`` from a file or ``-`` and write JSONL in order.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from rag.pii import MaskingFilter
from rag.settings import load_settings

Handler = Callable[[argparse.Namespace], int]
_COMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Handler, str]] = {}


def command(name: str, help: str):
    """Register a subcommand: the decorated function adds arguments, ``handler`` runs it."""

    def wrap(configure: Callable[[argparse.ArgumentParser], None]):
        def bind(handler: Handler) -> Handler:
            _COMMANDS[name] = (configure, handler, help)
            return handler

        configure.handler = bind  # type: ignore[attr-defined]
        return configure

    return wrap


class CLIError(Exception):
    """A user-facing failure: printed as one line, exit status 1."""


def service_for(args: argparse.Namespace):
    from rag.service import Service

    overrides: dict[str, Any] = {}
    if getattr(args, "store", None):
        overrides["store"] = Path(args.store)
    return Service(load_settings(**overrides))


def read_jsonl(path: str) -> Iterator[dict[str, Any]]:
    try:
        stream: IO[str] = sys.stdin if path == "-" else open(path, encoding="utf-8-sig")
    except FileNotFoundError:
        raise CLIError(f"找不到输入文件 {path}") from None
    except OSError as exc:
        raise CLIError(f"无法读取输入文件 {path}：{exc.strerror}") from None
    try:
        for lineno, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CLIError(f"{path} 第 {lineno} 行不是合法 JSON：{exc.msg}") from None
            if not isinstance(row, dict) or "text" not in row:
                raise CLIError(f"{path} 第 {lineno} 行缺少 text 字段（需要 {{\"id\", \"text\"}}）")
            row.setdefault("id", str(lineno))
            yield row
    finally:
        if stream is not sys.stdin:
            stream.close()


def open_output(path: str | None) -> IO[str]:
    return sys.stdout if not path or path == "-" else open(path, "w", encoding="utf-8")


def dump(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def _store_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", help="知识库目录（默认 <XS_DATA_DIR>/store）")


@command("search", "混合检索：返回最相关的片段（JSON）")
def _search_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("query", nargs="?", help="查询文本")
    _store_arg(p)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--mode", choices=["hybrid", "dense", "keyword"], default="hybrid")
    p.add_argument("--kind", choices=["regulation", "case", "script", "complaint"])
    p.add_argument("--label")
    p.add_argument("--input", help="批量：JSONL 文件（{id,text}）或 -")
    p.add_argument("--output", help="批量输出文件，默认标准输出")
    p.add_argument("--json", action="store_true", help="输出 JSON（默认即为 JSON）")


@_search_args.handler
def _search(args: argparse.Namespace) -> int:
    from rag.retrieval import Filters

    if not args.query and not args.input:
        raise CLIError("请给出查询文本，或用 --input 指定批量查询文件")
    svc = service_for(args)
    filters = Filters(kind=args.kind, label=args.label)
    if args.input:
        out = open_output(args.output)
        for row in read_jsonl(args.input):
            hits = svc.search(str(row["text"]), k=args.k, mode=args.mode, filters=filters)
            out.write(dump({"id": row["id"], "hits": [h.to_dict() for h in hits]}) + "\n")
        out.flush()
        return 0
    hits = svc.search(args.query, k=args.k, mode=args.mode, filters=filters)
    print(dump([h.to_dict() for h in hits]))
    return 0


@command("ask", "带引用的问答（JSON）")
def _ask_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("question")
    _store_arg(p)
    p.add_argument("--prompt", default="answer", help="提示词版本，例如 answer@1")
    p.add_argument("--json", action="store_true")


@_ask_args.handler
def _ask(args: argparse.Namespace) -> int:
    svc = service_for(args)
    answer = svc.ask(args.question, prompt_ref=args.prompt)
    if args.json:
        print(dump(answer.to_dict()))
    else:
        print(answer.answer)
        for c in answer.citations:
            print(f"[S{c['n']}] {c['doc_id']} {c['chunk_id']}")
    return 0


@command("prepare", "首次使用准备：转换内置向量模型、写入 tiktoken 离线缓存（可重复运行）")
def _prepare_args(p: argparse.ArgumentParser) -> None:
    pass


@_prepare_args.handler
def _prepare(args: argparse.Namespace) -> int:
    from rag.settings import DEFAULT_EMBEDDING_MODEL
    from rag.tokens import seed_cache

    settings = load_settings()
    seed_cache(settings.data_dir / "tiktoken")
    if settings.embedding_model == DEFAULT_EMBEDDING_MODEL:
        from rag.e5convert import ensure_default_model

        path = ensure_default_model(settings.data_dir)
        print(f"向量模型就绪：{path}")
    print(f"tiktoken 离线缓存就绪：{settings.data_dir / 'tiktoken'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    _load_plugins()
    parser = argparse.ArgumentParser(prog="python -m rag", description="线索：检索、问答、研判与线索命令")
    parser.add_argument("--debug", action="store_true", help="出错时显示完整回溯")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (configure, _handler, help_text) in _COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        configure(p)
    return parser


def _load_plugins() -> None:
    """Task modules register their own commands (triage, entities, leads, …) when present."""
    import importlib

    for module in ("rag.cli_triage", "rag.cli_leads", "rag.cli_admin"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    root = logging.getLogger()
    before = list(root.handlers)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    added = [h for h in root.handlers if h not in before]
    for handler in added:  # personal data never reaches a log unmasked (rag.pii)
        handler.addFilter(MaskingFilter())
    try:
        return _COMMANDS[args.command][1](args)
    except KeyboardInterrupt:
        print("已中断", file=sys.stderr)
        return 1
    except Exception as exc:  # one clear line unless --debug
        if args.debug:
            raise
        msg = str(exc) if isinstance(exc, CLIError) or str(exc) else type(exc).__name__
        print(f"错误：{msg}", file=sys.stderr)
        return 1
    finally:
        for handler in added:  # main() may run inside another program (tests): leave its logging as found
            root.removeHandler(handler)

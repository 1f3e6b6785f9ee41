"""知识库 tab: upload files (with progress), counts per kind, the document list, a document's chunks,
delete, re-index.

Writes go through the same pipeline as ``python -m ingest`` and hold the store's writer lock
(:class:`rag.store.WriterLock`): while another process writes, the tab says so in Chinese and
changes nothing. Uploaded files are kept under ``<data_dir>/uploads/<kind>/`` so that re-indexing
can read them again; uploading a file of the same name again replaces the documents it gave.
"""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path
from typing import Any

import gradio as gr

from ingest.loaders import LOADERS, LoadOptions
from ingest.pipeline import ingest_paths, reindex, summary_line
from rag.service import Service
from rag.store import StoreLocked
from rag.views import KIND_NAMES
from ui.context import UIContext

try:  # the permission check and audit line every handler runs (see ui.context)
    from ui.context import guarded
except ImportError:  # pragma: no cover - a checkout without users and roles
    def guarded(permission: str, *, audit: bool = True):
        return lambda fn: fn

KIND_CHOICES = [("自动识别", "auto"), ("法规", "regulation"), ("案例", "case"), ("话术", "script"), ("投诉", "complaint")]
KIND_DIRS = {"regulation": "regulations", "case": "cases", "script": "scripts", "complaint": "complaints"}
FILTER_CHOICES = [("全部", "")] + [(name, kind) for kind, name in KIND_NAMES.items()]
COUNT_HEADERS = ["种类", "文档数", "片段数"]
DOC_HEADERS = ["编号", "种类", "标题", "标签", "日期", "来源文件", "片段数"]
MAX_LIST = 500
LOCKED = "知识库正被另一个进程写入（例如命令行导入），本次未做任何修改。请等它结束后再试。"


def _kind_name(kind: str) -> str:
    return KIND_NAMES.get(kind, kind or "未知")


def _safe_name(name: str) -> str:
    name = Path(name).name.strip().replace("\x00", "")
    name = re.sub(r"[\\/:*?\"<>|\s]+", "_", name).lstrip(".")
    return name[:120] or "upload"


class _Progress:
    """Pipeline progress → gr.Progress (reading files, then writing documents)."""

    def __init__(self, progress: Any) -> None:
        self.progress = progress

    def __call__(self, done: int, total: int, message: str) -> None:
        if self.progress is None:
            return
        phase, _, name = message.partition(" ")
        frac = done / total if total else 1.0
        # reading is the first fifth of the bar, writing the rest
        value = 0.2 * frac if phase.startswith("读取") else 0.2 + 0.8 * frac
        self.progress(value, desc=f"{phase} {done}/{total} {name[:40]}".strip())


class KBHandlers:
    def __init__(self, service: Service) -> None:
        self.service = service

    @property
    def kb(self):
        return self.service.kb

    @property
    def upload_dir(self) -> Path:
        return self.service.settings.data_dir / "uploads"

    # -- views ----------------------------------------------------------------------------------
    def counts_rows(self) -> list[list[Any]]:
        counts = self.kb.ledger.kind_counts()
        rows = [[_kind_name(kind), docs, chunks] for kind, (docs, chunks) in counts.items()]
        if rows:
            rows.append(["合计", sum(r[1] for r in rows), sum(r[2] for r in rows)])
        return rows

    def document_rows(self, kind: str = "") -> list[list[Any]]:
        allowed = _visible_access()
        rows = []
        for d in self.kb.ledger.documents(kind=kind or None):
            if allowed is not None and (d.get("access") or "public") not in allowed:
                continue
            rows.append([d["doc_id"], _kind_name(d["kind"]), d["title"] or "", d["label"] or "", d["date"] or "",
                         Path(d["source"]).name if d["source"] else "", d["n_chunks"] or 0])
            if len(rows) >= MAX_LIST:
                break
        return rows

    def status_line(self) -> str:
        a = self.kb.agreement()
        state = "一致" if a["agree"] else "不一致（请点“重新索引”）"
        pending = f"，待完成 {a['pending']} 篇" if a["pending"] else ""
        return (f"台账 {a['ledger']} 个片段 · 向量库 {a['vectors']} · 关键词索引 {a['keywords']}：{state}{pending}")

    @guarded("kb.view", audit=False)
    def refresh(self, kind: str = "", request: gr.Request = None):
        """(counts, documents, store status)."""
        return self._refresh(kind)

    @guarded("kb.view", audit=False)
    def select(self, table: Any, evt: gr.SelectData, request: gr.Request = None):
        """A row picked in the document list: (its doc id, its chunks)."""
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        try:
            value = table.iloc[row, 0] if hasattr(table, "iloc") else table[row][0]
        except (IndexError, KeyError, TypeError):
            return "", self.chunks_html("")
        return str(value), self.chunks_html(str(value))

    def _refresh(self, kind: str = ""):
        return self.counts_rows(), self.document_rows(kind), self.status_line()

    def chunks_html(self, doc_id: str) -> str:
        doc_id = (doc_id or "").strip()
        if not doc_id:
            return '<div class="xs-empty">请输入或在列表中点选文档编号。</div>'
        doc = self.kb.ledger.document(doc_id)
        allowed = _visible_access()
        if doc is None or doc["state"] != "done" or (allowed is not None and (doc.get("access") or "public") not in allowed):
            return f'<div class="xs-empty">没有编号为 {html.escape(doc_id)} 的文档。</div>'
        chunks = self.kb.ledger.chunks_of(doc_id)
        head = (f"<p><b>{html.escape(doc['title'] or doc_id)}</b> · {html.escape(_kind_name(doc['kind']))} · "
                f"{len(chunks)} 个片段 · 来源 {html.escape(doc['source'] or '—')}</p>")
        blocks = [
            f'<details class="xs-src" id="xs-kb-chunk-{c["seq"]}"{" open" if i < 3 else ""}>'
            f"<summary>#{c['seq'] + 1} <span class=\"xs-meta\">{html.escape(c['context'] or '')} · "
            f"{c['tokens']} tokens</span></summary><p>{html.escape(c['text'])}</p></details>"
            for i, c in enumerate(chunks)
        ]
        return head + "".join(blocks)

    # -- writes ---------------------------------------------------------------------------------
    @guarded("kb.view", audit=False)
    def view(self, doc_id: str, request: gr.Request = None) -> str:
        return self.chunks_html(doc_id)

    @guarded("kb.ingest")
    def upload(self, files: list[Any] | None, kind: str = "auto", filter_kind: str = "",
               progress: Any = gr.Progress(), request: gr.Request = None):
        """(status, counts, documents, store status) after importing the uploaded files."""
        paths = [Path(getattr(f, "name", f)) for f in (files or []) if f]
        if not paths:
            return ("请先选择要上传的文件（支持：" + " ".join(sorted(LOADERS)) + "）。", *self._refresh(filter_kind))
        target = self.upload_dir / KIND_DIRS[kind] if kind in KIND_DIRS else self.upload_dir
        kept: list[Path] = []
        lines: list[str] = []
        try:
            with self.kb.writer():
                target.mkdir(parents=True, exist_ok=True)
                for p in paths:
                    dest = target / _safe_name(p.name)
                    shutil.copyfile(p, dest)
                    kept.append(dest)
                options = LoadOptions(kind=kind if kind in KIND_DIRS else "auto",
                                      max_bytes=self.service.settings.max_upload_mb * 1024 * 1024)
                stats = ingest_paths(self.kb, kept, options, _Progress(progress), lock=False)
        except StoreLocked:
            return (LOCKED, *self._refresh(filter_kind))
        except OSError as exc:
            return (f"上传失败：无法保存文件（{exc.strerror or exc}）。", *self._refresh(filter_kind))
        for source, reason in stats.failed:
            lines.append(f"- ❌ {html.escape(Path(source).name)}：{html.escape(reason)}")
            Path(source).unlink(missing_ok=True)  # a file that gave nothing is not kept for re-indexing
        for source, reason in stats.warnings:
            lines.append(f"- ⚠️ {html.escape(Path(source).name)}：{html.escape(reason)}")
        head = "导入完成：" if not stats.failed and not stats.warnings else "导入完成，但有文件未能全部导入："
        return ("\n".join([head + summary_line(stats), *lines]), *self._refresh(filter_kind))

    @guarded("kb.ingest")
    def delete(self, doc_ids: str, filter_kind: str = "", request: gr.Request = None):
        """(status, counts, documents, store status) after deleting the given documents."""
        ids = [d for d in re.split(r"[\s,，、;；]+", doc_ids or "") if d]
        if not ids:
            return ("请输入要删除的文档编号（可用逗号分隔多个）。", *self._refresh(filter_kind))
        known = [d for d in ids if self.kb.ledger.document(d) is not None]
        unknown = [d for d in ids if d not in known]
        if not known:
            return (f"没有找到这些文档：{html.escape('、'.join(unknown))}。", *self._refresh(filter_kind))
        try:
            with self.kb.writer():
                sources = {self.kb.ledger.document(d)["source"] for d in known}
                removed = self.kb.delete_documents(known, lock=False)
                gone = self._drop_uploads(sources)
        except StoreLocked:
            return (LOCKED, *self._refresh(filter_kind))
        msg = f"已删除 {len(known)} 篇文档、{removed} 个片段。"
        if unknown:
            msg += f"未找到：{html.escape('、'.join(unknown))}。"
        if gone:
            msg += f"已一并删除上传的文件 {len(gone)} 个。"
        msg += "若来源文件仍在原处，重新索引会再次导入它。" if len(gone) < len(sources) else ""
        return (msg, *self._refresh(filter_kind))

    def _drop_uploads(self, sources: set[str]) -> list[Path]:
        """Uploaded files none of whose documents remain: deleted, so re-indexing does not revive them."""
        gone = []
        root = self.upload_dir.resolve()
        remaining = self.kb.ledger.sources()
        for source in sources:
            path = Path(source).resolve()
            if root in path.parents and not remaining.get(source) and path.is_file():
                path.unlink()
                self.kb.ledger.forget_files([str(path)])
                gone.append(path)
        return gone

    @guarded("kb.ingest")
    def reindex(self, filter_kind: str = "", progress: Any = gr.Progress(), request: gr.Request = None):
        """(status, counts, documents, store status) after re-reading every known source file."""
        try:
            stats = reindex(self.kb, _Progress(progress),
                            base=LoadOptions(max_bytes=self.service.settings.max_upload_mb * 1024 * 1024))
        except StoreLocked:
            return (LOCKED, *self._refresh(filter_kind))
        lines = [f"- ❌ {html.escape(Path(s).name)}：{html.escape(r)}" for s, r in stats.failed + stats.warnings]
        return ("\n".join(["重新索引完成：" + summary_line(stats), *lines]), *self._refresh(filter_kind))


def _visible_access() -> frozenset[str] | None:
    """Access levels the acting user may see (None: no users and roles in this checkout, or no user)."""
    try:
        from rag.auth import ROLE_ACCESS, current_principal
    except ImportError:  # pragma: no cover
        return None
    principal = current_principal()
    return ROLE_ACCESS.get(principal.role) if principal is not None else None


def build(ctx: UIContext) -> None:
    h = KBHandlers(ctx.service)
    with gr.Row():
        with gr.Column(scale=3):
            files = gr.File(label="上传文件（PDF、Word、Excel、CSV、网页、Markdown、文本、JSONL、截图）",
                            file_count="multiple", type="filepath", file_types=sorted(LOADERS),
                            elem_id="xs-kb-files")
        with gr.Column(scale=1):
            kind = gr.Dropdown(KIND_CHOICES, value="auto", label="资料种类", elem_id="xs-kb-kind")
            upload = gr.Button("导入", variant="primary", elem_id="xs-kb-upload")
            reindex_btn = gr.Button("重新索引", elem_id="xs-kb-reindex")
    status = gr.Markdown("", elem_id="xs-kb-status")
    with gr.Row():
        with gr.Column(scale=1):
            counts = gr.Dataframe(headers=COUNT_HEADERS, value=[], label="各类资料", interactive=False,
                                  elem_id="xs-kb-counts")
            store = gr.Markdown("", elem_id="xs-kb-store")
        with gr.Column(scale=3):
            filter_kind = gr.Dropdown(FILTER_CHOICES, value="", label="按种类筛选", elem_id="xs-kb-filter")
            docs = gr.Dataframe(headers=DOC_HEADERS, value=[], label=f"文档（最多显示 {MAX_LIST} 篇；点选一行查看片段）",
                                interactive=False, wrap=True, elem_id="xs-kb-docs",
                                column_widths=["17%", "7%", "30%", "13%", "11%", "15%", "7%"])
    with gr.Row():
        doc_id = gr.Textbox(label="文档编号（删除时可用逗号分隔多个）", scale=4, elem_id="xs-kb-docid")
        view_btn = gr.Button("查看片段", scale=1, elem_id="xs-kb-view")
        delete_btn = gr.Button("删除", variant="stop", scale=1, elem_id="xs-kb-delete")
    chunks = gr.HTML('<div class="xs-empty">请选择文档。</div>', elem_id="xs-kb-chunks")

    outputs = [status, counts, docs, store]
    upload.click(h.upload, [files, kind, filter_kind], outputs, api_name="kb_upload")
    reindex_btn.click(h.reindex, [filter_kind], outputs, api_name="kb_reindex")
    delete_btn.click(h.delete, [doc_id, filter_kind], outputs, api_name="kb_delete")
    view_btn.click(h.view, [doc_id], [chunks], api_name="kb_view")
    filter_kind.change(h.refresh, [filter_kind], [counts, docs, store], api_name=False)

    docs.select(h.select, [docs], [doc_id, chunks], api_name=False)
    root = gr.context.Context.root_block  # the page: fill the lists each time it opens
    if root is not None:
        root.load(h.refresh, [filter_kind], [counts, docs, store], api_name=False)

"""Each workbench tab doing its main job in headless Chromium, with a screenshot of the result.

The suite logs in through the login form as an administrator (who sees every tab), drives each
tab through its real controls, checks the result in the rendered page and saves a full-page
screenshot to ``XS_SCREENSHOT_DIR`` (default ``artifacts/screenshots/``).
"""

from __future__ import annotations

from pathlib import Path
import csv
import re

import pytest

try:
    from playwright.sync_api import expect

    from tests.browser.pages import open_tab
except ImportError:  # the `browser` fixture says why: a skip on a bare machine, a failure in CI
    expect = open_tab = None

pytestmark = [pytest.mark.browser, pytest.mark.slow]

QUESTION = "征信修复公司说能删除逾期记录，可信吗？"
TABS = ["问答", "投诉研判", "回复起草", "线索汇总", "知识库", "评测", "管理"]


def test_header_shows_backend_and_masking_and_page_stays_local(page, context):
    expect(page.locator("#xs-backend")).to_contain_text("离线引擎")
    expect(page.locator("#xs-masking")).to_contain_text("本地处理")
    tabs = page.locator("#xs-header ~ div [role=tablist]").first.get_by_role("tab").all_inner_texts()
    assert tabs == TABS, tabs
    page.wait_for_timeout(1500)  # fonts, icons and lazy assets have been asked for by now
    assert context.outside_requests == [], "the page asked for something outside the app"


def test_login_refuses_a_wrong_password_and_lets_staff_in(browser, app_url, shoot):
    from tests.browser.pages import TEST_PASSWORD, TEST_USER, login

    ctx = browser.new_context(viewport={"width": 1440, "height": 960}, locale="zh-CN")
    try:
        page = ctx.new_page()
        page.goto(app_url)
        expect(page.locator("input[type=password]")).to_be_visible(timeout=60_000)
        expect(page.locator("body")).to_contain_text("请使用管理员分配的账号登录")
        login(page, TEST_USER, "not-the-password")
        expect(page.locator("body")).to_contain_text("凭据不正确")  # gradio's own Chinese message
        expect(page.locator("input[type=password]")).to_be_visible()
        assert page.locator("#xs-header").count() == 0 and page.locator("#xs-user").count() == 0, \
            "a wrong password must not show the workbench"
        shoot(page, "00-login")
        login(page, TEST_USER, TEST_PASSWORD)
        expect(page.locator("#xs-user")).to_contain_text(TEST_USER, timeout=60_000)
        expect(page.locator("#xs-header")).to_be_visible()
        assert page.locator("input[type=password]").count() == 0, "the login form is gone once staff are in"
    finally:
        ctx.close()


def test_qa_answers_with_citations_and_opens_a_source(page, shoot):
    open_tab(page, "问答")
    expect(page.locator("#xs-sources .xs-empty")).to_have_text("暂无来源。")  # empty state before asking
    page.locator("#xs-ask").click()
    expect(page.locator("#xs-status")).to_have_text("请输入问题。")  # a clear message, not an error
    page.locator("#xs-question textarea").fill(QUESTION)
    page.locator("#xs-ask").click()
    expect(page.locator("#xs-status")).to_contain_text("完成", timeout=60_000)
    answer = page.locator("#xs-chat .message.bot, #xs-chat [data-testid=bot]").last
    expect(answer).to_contain_text("[S1]")
    expect(answer).to_contain_text("未使用大语言模型")
    # Cited sources open by default; an uncited one opens on a click and shows its passage.
    first = page.locator("#xs-src-1")
    expect(first).to_have_attribute("open", "")
    expect(first.locator("p")).to_be_visible()
    assert len(first.locator("p").inner_text()) > 20
    closed_ids = page.locator("#xs-sources details.xs-src:not([open])").evaluate_all("els => els.map(e => e.id)")
    assert closed_ids, "every source is cited: nothing left to open by hand"
    closed = page.locator(f"#{closed_ids[0]}")
    expect(closed.locator("p")).to_be_hidden()
    closed.locator("summary").click()
    expect(closed.locator("p")).to_be_visible()
    expect(page.locator("#xs-sources")).to_contain_text("征信")
    shoot(page, "01-qa")
    assert not page.js_errors, page.js_errors


def table_rows(page, elem_id: str) -> list[list[str]]:
    """The body rows of a gradio Dataframe, as cell texts."""
    return page.locator(f"#{elem_id} [role=row]:has([role=gridcell])").evaluate_all(
        "rows => rows.map(r => Array.from(r.querySelectorAll('[role=gridcell]')).map(c => c.innerText.trim()))")


def choose(page, elem_id: str, option: str) -> None:
    """Pick an option of a gradio Dropdown."""
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=option, exact=True).click()
    expect(page.locator(f"#{elem_id} input")).to_have_value(option)


def sort_table(page, elem_id: str, column: str, order: str = "降序排序") -> None:
    """Sort a gradio Dataframe by a column through its header menu, as staff do."""
    header = page.locator(f"#{elem_id} th", has_text=column)
    header.hover()
    header.locator("button[aria-label='Open cell menu']").click()
    page.get_by_role("menuitem", name=order).or_(page.get_by_text(order, exact=True)).first.click()


def first_row(page, elem_id: str):
    return page.locator(f"#{elem_id} [role=row]:has([role=gridcell])").first


TRIAGE_COMPLAINT = ("您好，我是借款人张某的委托代理人，我司法务团队已获其全权委托。请贵司立即停止催收，"
                    "减免全部利息罚息，仅偿还本金，之后请勿再直接联系委托人，否则我们将向金融监管部门集体投诉。")


def test_triage_labels_a_complaint_with_a_chart_and_red_flags(page, shoot):
    open_tab(page, "投诉研判")
    page.locator("#xs-triage-go").click()
    expect(page.locator("#xs-triage-verdict")).to_contain_text("请粘贴投诉内容")  # empty input: a clear message
    page.locator("#xs-triage-text textarea").fill(TRIAGE_COMPLAINT)
    page.locator("#xs-triage-go").click()
    verdict = page.locator("#xs-triage-verdict")
    expect(verdict).to_contain_text("置信度", timeout=60_000)
    expect(verdict).to_contain_text("非法代理维权")
    # The label confidence chart has a bar per label on a label axis (vega draws it as svg).
    chart = page.locator("#xs-triage-chart svg.marks")
    expect(chart.locator(".mark-rect path").first).to_be_visible(timeout=30_000)
    assert chart.locator(".mark-rect path").count() >= 2
    expect(chart).to_contain_text("非法代理维权")
    expect(chart.locator("[aria-roledescription=axis]").first).not_to_have_attribute("aria-label", re.compile("NaN"))
    # Red-flag phrases are highlighted in the complaint itself.
    flags = page.locator("#xs-triage-marked mark.xs-flag")
    expect(flags.first).to_be_visible()
    assert any(t in TRIAGE_COMPLAINT for t in flags.all_inner_texts())
    expect(page.locator("#xs-triage-evidence details.xs-src").first).to_be_visible()
    shoot(page, "02-triage")
    assert not page.js_errors, page.js_errors


def test_triage_batch_fills_a_table_and_exports_it_as_csv(page, shoot, tmp_path):
    open_tab(page, "投诉研判")
    page.get_by_role("tab", name="批量研判").click()
    batch = tmp_path / "complaints.csv"
    with open(batch, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "text"])
        w.writerows([["b-1", TRIAGE_COMPLAINT],
                     ["b-2", "专业征信修复，三天删除逾期记录，先交服务费，包过！加微信 xyd_zhengxin。"],
                     ["b-3", "我的账单被重复扣了两次，每次1265.40元，第二笔到现在还没退回来，请核实退款。"]])
    page.locator("#xs-triage-upload input[type=file]").set_input_files(str(batch))
    page.locator("#xs-triage-batch").click()
    expect(first_row(page, "xs-triage-table")).to_be_visible(timeout=60_000)
    rows = table_rows(page, "xs-triage-table")
    assert [r[0] for r in rows] == ["b-1", "b-2", "b-3"], rows
    link = page.locator("#xs-tab-triage tr", has_text=re.compile(r"研判结果\s*\.csv")).locator("a")
    expect(link).to_be_visible()
    with page.expect_download() as download:
        link.click()
    exported = list(csv.DictReader(open(download.value.path(), encoding="utf-8-sig")))
    assert [r["编号"] for r in exported] == ["b-1", "b-2", "b-3"]
    assert exported[0]["标签"].startswith("非法代理维权")
    shoot(page, "02b-triage-batch")
    assert not page.js_errors, page.js_errors


DRAFT_COMPLAINT = ("我司受借款人王某全权委托，要求贵司全额减免其全部息费，停止一切催收，"
                   "三日内答复我司协商专员（微信 dingheng_fawu01），否则向银保监会、12378 集体投诉。")


def test_draft_writes_a_reply_and_shows_its_checks(page, shoot):
    open_tab(page, "回复起草")
    page.locator("#xs-draft-go").click()
    expect(page.locator("#xs-draft-status")).to_contain_text("⚠")  # empty complaint: a clear message
    page.locator("#xs-draft-complaint textarea").fill(DRAFT_COMPLAINT)
    page.locator("#xs-draft-go").click()
    expect(page.locator("#xs-draft-status")).to_contain_text("标签", timeout=60_000)
    draft = page.locator("#xs-draft-text textarea")
    expect(draft).not_to_have_value("")
    assert len(draft.input_value()) > 50
    expect(first_row(page, "xs-draft-checks")).to_be_visible(timeout=30_000)
    rows = table_rows(page, "xs-draft-checks")
    assert rows and all(len(r) >= 3 for r in rows), rows
    assert any("通过" in " ".join(r) for r in rows), rows
    shoot(page, "03-draft")
    assert not page.js_errors, page.js_errors


def test_leads_finds_a_group_and_draws_its_graph(page, shoot):
    open_tab(page, "线索汇总")
    page.locator("#xs-leads-query textarea, #xs-leads-query input").first.fill("dingheng_fawu01")
    page.locator("#xs-leads-go").click()
    expect(page.locator("#xs-leads-status")).to_contain_text("关联", timeout=60_000)
    expect(page.locator("#xs-leads-status")).to_contain_text("dingheng_fawu01")  # says what it matched on
    expect(first_row(page, "xs-leads-groups")).to_be_visible(timeout=30_000)
    rows = table_rows(page, "xs-leads-groups")
    assert rows and any("dingheng_fawu01" in " ".join(r) for r in rows), rows
    page.locator("#xs-leads-summary").click()
    expect(page.locator("#xs-leads-graph img")).to_be_visible(timeout=60_000)
    expect(page.locator("#xs-leads-graph [aria-label*=hare i], #xs-leads-graph [title*=hare i]")).to_have_count(0)
    expect(page.locator("#xs-leads-md")).to_contain_text("case-", timeout=30_000)
    shoot(page, "04-leads")
    assert not page.js_errors, page.js_errors


UPLOAD_DOC = """---
id: reg-browser-001
kind: regulation
title: 浏览器测试用的规定摘要
date: 2024-06-01
---
# 浏览器测试用的规定摘要

第一条 任何机构不得以“内部渠道”“包下款”为名收取前置费用。

第二条 发现冒用本机构名义发送的短信链接，应当在官方渠道公告提示，并向公安机关报案。
"""


def test_kb_shows_counts_imports_with_progress_and_opens_a_documents_chunks(page, shoot, tmp_path):
    open_tab(page, "知识库")
    expect(first_row(page, "xs-kb-counts")).to_be_visible(timeout=30_000)
    counts = {r[0]: r[1:] for r in table_rows(page, "xs-kb-counts")}
    assert {"法规", "案例", "话术", "合计"} <= counts.keys(), counts
    assert int(counts["案例"][0]) >= 25 and int(counts["话术"][0]) == 10, counts
    # The document list sorts by a column: newest first.
    expect(first_row(page, "xs-kb-docs")).to_be_visible()
    before = [r[4] for r in table_rows(page, "xs-kb-docs")]  # the rendered rows (the list scrolls)
    sort_table(page, "xs-kb-docs", "日期")
    expect(first_row(page, "xs-kb-docs")).not_to_contain_text(before[0])
    after = [r[4] for r in table_rows(page, "xs-kb-docs")]
    assert after == sorted(after, reverse=True) and after[0] >= max(before), (before, after)
    # Import one file through the upload control.
    doc = tmp_path / "浏览器测试规定.md"
    doc.write_text(UPLOAD_DOC, encoding="utf-8")
    page.locator("#xs-kb-files input[type=file]").set_input_files(str(doc))
    page.locator("#xs-kb-upload").click()
    expect(page.locator("#xs-kb-status")).to_contain_text("导入完成", timeout=60_000)
    expect(page.locator("#xs-kb-store")).to_contain_text("一致")
    # Narrow the list to regulations, pick the new document: its chunks open below.
    choose(page, "xs-kb-filter", "法规")
    expect(page.locator("#xs-kb-docs")).not_to_contain_text("case-")
    cell = page.locator("#xs-kb-docs [role=gridcell]", has_text="reg-browser-001").first
    expect(cell).to_be_visible()
    cell.click()
    expect(page.locator("#xs-kb-docid input, #xs-kb-docid textarea").first).to_have_value("reg-browser-001")
    chunks = page.locator("#xs-kb-chunks")
    expect(chunks).to_contain_text("浏览器测试用的规定摘要")
    expect(chunks.locator("details.xs-src p").first).to_contain_text("包下款")
    shoot(page, "05-kb")
    assert not page.js_errors, page.js_errors


def test_evals_runs_a_set_and_shows_metrics_and_charts(page, shoot):
    open_tab(page, "评测")
    expect(page.locator("#xs-eval-task input")).to_have_value("检索 retrieval")
    # The committed baseline was run on the full corpus and this store is a slice of it, so compare
    # the current version with itself here: nothing flips (the absolute gates may well fail).
    choose(page, "xs-eval-a", "当前版本")
    page.locator("#xs-eval-run").click()
    status = page.locator("#xs-eval-status")
    n_questions = sum(1 for line in open(Path(__file__).resolve().parents[2] / "evals" / "sets" / "retrieval.jsonl", encoding="utf-8") if line.strip())
    expect(status).to_contain_text(f"/{n_questions}", timeout=30_000)  # progress while the set runs
    expect(status).to_contain_text("门槛", timeout=120_000)
    expect(status).to_contain_text("由通过变为失败 0 条，由失败变为通过 0 条")
    expect(first_row(page, "xs-eval-table")).to_be_visible()
    metrics = [r[0] for r in table_rows(page, "xs-eval-table")]
    assert any("recall" in m or "mrr" in m or "hit" in m for m in metrics), metrics
    page.get_by_text("完整报告").click()
    frame = page.frame_locator("#xs-eval-frame")
    expect(frame.locator("svg.chart").first).to_be_visible(timeout=30_000)
    expect(page.locator("#xs-eval-download")).to_contain_text("评测报告")
    shoot(page, "06-evals")
    assert not page.js_errors, page.js_errors


def test_admin_lists_users_and_verifies_the_audit_log(page, shoot):
    open_tab(page, "管理")
    page.get_by_role("button", name="刷新用户列表").click()
    expect(page.locator("#xs-users")).to_contain_text("审查员")
    page.get_by_role("tab", name="审计日志").click()
    page.locator("#xs-audit-verify").click()
    expect(page.locator("#xs-audit-verdict")).to_contain_text("✅", timeout=30_000)
    page.locator("#xs-tab-admin").get_by_role("button", name="刷新").first.click()
    expect(first_row(page, "xs-audit")).to_be_visible(timeout=30_000)
    actions = {r[4] for r in table_rows(page, "xs-audit") if len(r) > 4}
    assert "login" in actions, actions  # the suite's own login is on record
    shoot(page, "07-admin")
    assert not page.js_errors, page.js_errors

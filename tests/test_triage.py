"""Complaint triage: learned from the store's labelled cases, with evidence, abstention and the LLM vote."""

from __future__ import annotations

import json
import random
import re

import pytest

from rag.documents import Document
from rag.llm import LLMError
from rag.service import Service
from rag.settings import Settings
from rag.triage import TriageEngine, TriageUnavailable
from tests.conftest import ROOT
from tests.fakes import FakeLLM, HashEmbedder

ARCH_FIELDS = {"label", "confidence", "abstain", "scores", "red_flags", "evidence", "action"}
POOLS = {
    "credit_repair": ["征信修复", "删除逾期记录", "内部关系", "先交服务费", "三天洗白", "异议申诉包过", "呆账处理", "征信中心"],
    "impersonation": ["自称客服", "注销校园贷", "屏幕共享", "安全账户", "会议软件", "关闭百万保障", "影响征信", "转账验证"],
    "legit_complaint": ["重复扣款", "客服电话打不通", "账单金额不对", "提前还款违约金", "退款没有到账", "费用不透明",
                        "还款日被改", "利息计算错误"],
}
FILLER = ["我", "上周", "今天", "他们", "说", "要求", "然后", "这件事", "平台", "处理"]
NOVEL = "小区门口卖保健品的拉老人听讲座，说磁疗床垫能治高血压，老人花两万元买了三床，回家发现是普通海绵垫子。"


def make_text(rng: random.Random, label: str) -> str:
    words = rng.sample(POOLS[label], 4) + rng.sample(FILLER, 3)
    rng.shuffle(words)
    return "，".join(words) + "。"


def cases(n_per_label: int = 14, seed: int = 3) -> list[Document]:
    rng = random.Random(seed)
    docs = []
    for label in POOLS:
        for i in range(n_per_label):
            docs.append(Document(f"case-{label}-{i}", make_text(rng, label), "case", "", {"label": label}))
    docs.append(Document("scr-001", "专业征信修复，三天删除逾期记录，先交服务费，包过！", "script", "征信修复广告",
                         {"label": "credit_repair", "red_flags": ["先交服务费", "包过"]}))
    docs.append(Document("reg-001", "征信机构不得删除真实的不良信息。", "regulation", "征信业管理条例"))
    return docs


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    settings = Settings(data_dir=tmp_path_factory.mktemp("triage") / "data", prompts_dir=ROOT / "prompts")
    svc = Service(settings, embedder=HashEmbedder(), llm=None)
    svc.kb.add_documents(cases())
    return svc


def llm_service(service, llm, **settings) -> Service:
    """The same store with a scripted LLM and an endpoint configured."""
    s = service.settings.model_copy(update={"llm_base_url": "http://127.0.0.1:9/v1", "llm_model": "m", **settings})
    svc = Service(s, embedder=service.embedder, llm=llm)
    svc.kb  # noqa: B018 - build before sharing the ledger
    return svc


def test_labels_are_exactly_those_of_the_labelled_cases_and_results_carry_evidence(service):
    result = service.triage.classify("有人自称客服，说要注销校园贷，不然影响征信，让我下载会议软件开屏幕共享，再把钱转到安全账户。")
    assert result.label == "impersonation" and not result.abstain
    assert set(result.scores) == set(POOLS)
    assert abs(sum(result.scores.values()) - 1) < 0.01 and result.confidence == max(result.scores.values())
    d = result.to_dict()
    assert ARCH_FIELDS <= set(d) and set(d) - ARCH_FIELDS <= {"backend", "signals"}
    assert all(set(e) == {"doc_id", "kind", "score"} for e in d["evidence"])
    cases_ = [e for e in result.evidence if e.kind == "case"]
    assert cases_ and cases_[0].label == "impersonation"
    assert {"屏幕共享", "安全账户", "会议软件", "注销校园贷"} <= set(result.red_flags)
    assert all(flag in "有人自称客服，说要注销校园贷，不然影响征信，让我下载会议软件开屏幕共享，再把钱转到安全账户。"
               for flag in result.red_flags)
    assert result.action.startswith("转反欺诈复核") and result.backend == "offline"
    assert set(result.signals["parts"]) == {"dense", "char", "knn_dense", "knn_keyword", "red_flags"}
    json.dumps(d, ensure_ascii=False)  # serialisable as is


def test_genuine_complaint_goes_to_normal_handling(service):
    result = service.triage.classify("我上周还款被重复扣款两次，账单金额不对，客服电话打不通，要求退款。")
    assert result.label == "legit_complaint" and not result.abstain
    assert result.red_flags == [] and "正常投诉流程" in result.action


def test_script_red_flags_from_the_store_are_matched(service):
    result = service.triage.classify("对方说可以征信修复，删除逾期记录，但要先交服务费，保证包过。")
    assert result.label == "credit_repair"
    assert {"先交服务费", "包过", "征信修复"} <= set(result.red_flags)
    assert any(e.kind == "script" and e.doc_id == "scr-001" for e in result.evidence)


def test_a_complaint_unlike_every_label_abstains(service):
    result = service.triage.classify(NOVEL)
    assert result.abstain is True
    assert result.action.startswith("转人工研判")
    assert result.label in POOLS  # the best guess is still named, but routed to a person


def test_batch_matches_single_and_keeps_order(service):
    texts = ["屏幕共享 安全账户 注销校园贷 自称客服", "重复扣款 退款没有到账 账单金额不对", NOVEL, ""]
    batch = service.triage.classify_many(texts)
    assert [r.label for r in batch[:3]] == [service.triage.classify(t).label for t in texts[:3]]
    assert len(batch) == 4 and batch[3].abstain


def test_model_is_cached_on_disk_and_retrained_only_when_cases_change(service, monkeypatch):
    service.triage.knowledge()
    fresh = TriageEngine(service)
    from rag import triage_model

    def boom(*a, **k):
        raise AssertionError("retrained although the cases did not change")

    monkeypatch.setattr(triage_model.TriageModel, "fit", boom)
    assert fresh.classify("征信修复 删除逾期记录 内部关系").label == "credit_repair"
    service.kb.add_documents([Document("reg-002", "新的法规文本，与案例无关。", "regulation", "另一法规")])
    assert fresh.classify("征信修复 删除逾期记录 内部关系").label == "credit_repair"  # generation moved, cases did not
    monkeypatch.undo()
    service.kb.add_documents([Document("case-new", "征信修复 内部关系 先交服务费 呆账处理", "case", "", {"label": "credit_repair"})])
    calls = []
    real_fit = triage_model.TriageModel.fit.__func__

    def counting(cls, *a, **k):
        calls.append(1)
        return real_fit(cls, *a, **k)

    monkeypatch.setattr(triage_model.TriageModel, "fit", classmethod(counting))
    fresh.classify("征信修复")
    assert calls == [1]
    assert len(list((service.settings.store_dir / "triage").glob("model-*.pkl"))) == 1


def test_custom_label_set_gets_its_own_classifier(tmp_path):
    svc = Service(Settings(data_dir=tmp_path / "d", prompts_dir=ROOT / "prompts"), embedder=HashEmbedder(), llm=None)
    rng = random.Random(1)
    docs = [Document(f"c-{dst}-{i}", make_text(rng, src), "case", "", {"label": dst})
            for src, dst in (("credit_repair", "type_a"), ("legit_complaint", "type_b")) for i in range(10)]
    svc.kb.add_documents(docs)
    result = svc.triage.classify("征信修复 删除逾期记录 内部关系 先交服务费")
    assert set(result.scores) == {"type_a", "type_b"} and result.label == "type_a"
    assert result.action == "转反欺诈复核（标签：type_a）"


def test_no_labelled_cases_is_a_clear_error(tmp_path):
    svc = Service(Settings(data_dir=tmp_path / "d", prompts_dir=ROOT / "prompts"), embedder=HashEmbedder(), llm=None)
    svc.kb.add_documents([Document("reg-1", "一条法规。", "regulation", "法规")])
    with pytest.raises(TriageUnavailable, match="python -m ingest"):
        svc.triage.classify("任何投诉")


# -- the LLM vote ---------------------------------------------------------------------------
COMPLAINT = "有人自称客服让我屏幕共享，还让我把钱转到安全账户，手机13900112233。"


def test_llm_vote_is_combined_and_the_request_holds_labels_evidence_and_complaint(service):
    llm = FakeLLM(json.dumps({"label": "impersonation", "confidence": 0.9, "red_flags": ["屏幕共享", "不在原文里"],
                              "reason": "冒充客服"}, ensure_ascii=False))
    svc = llm_service(service, llm, llm_base_url="http://127.0.0.1:9/v1")
    result = svc.triage.classify(COMPLAINT)
    llm.assert_done()
    system, user = llm.received[0]
    assert "只输出一个 JSON 对象" in system["content"]
    assert f"<投诉>{COMPLAINT}</投诉>" in user["content"]  # local endpoint: nothing masked
    for code in POOLS:
        assert f"- {code}：" in user["content"]
    assert "[case-impersonation-" in user["content"]
    assert result.label == "impersonation" and result.backend == "fake:scripted"
    assert "不在原文里" not in result.red_flags and "屏幕共享" in result.red_flags
    assert result.signals["llm"]["label"] == "impersonation"
    assert result.prompt["prompt_id"] == "triage" and len(result.prompt["prompt_sha256"]) == 64


def test_llm_on_a_remote_endpoint_sees_masked_personal_data(service):
    llm = FakeLLM('{"label": "impersonation", "confidence": 0.8, "red_flags": []}')
    svc = llm_service(service, llm, llm_base_url="https://llm.example.com/v1")
    svc.triage.classify(COMPLAINT)
    sent = llm.received[0][1]["content"]
    assert "13900112233" not in sent and "[手机号1]" in sent


@pytest.mark.parametrize("reply,error", [
    ("这不是 JSON", "未返回合法 JSON"),
    ('{"label": "hacked_label", "confidence": 1.0}', "不在标签集合中"),
    ('{"label": "impersonation", "confidence": "很高"}', "不是数字"),
    (LLMError("大模型接口超时"), "超时"),
])
def test_invalid_llm_votes_never_get_through(service, reply, error):
    llm = FakeLLM(reply)
    svc = llm_service(service, llm)
    offline = service.triage.classify(COMPLAINT)
    result = svc.triage.classify(COMPLAINT)
    llm.assert_done()
    assert error in result.signals["llm"]["error"]
    assert result.label == offline.label and result.scores == offline.scores and result.backend == "offline"
    assert set(result.scores) == set(POOLS)


def test_a_reply_that_leaks_the_system_prompts_canary_is_discarded(service):
    def leak(messages):  # an obedient model that repeats its hidden marker inside a valid vote
        canary = re.search(r"XS-[A-Z]+-[0-9a-f]+|内部标记：(\S+?)（", messages[0]["content"])
        assert canary, "the active triage prompt carries no canary"
        marker = canary.group(1) or canary.group(0)
        return json.dumps({"label": "impersonation", "confidence": 0.9, "red_flags": [], "reason": marker})

    llm = FakeLLM(leak)
    svc = llm_service(service, llm)
    offline = service.triage.classify(COMPLAINT)
    result = svc.triage.classify(COMPLAINT)
    llm.assert_done()
    assert "内部标记" in result.signals["llm"]["error"]
    assert result.scores == offline.scores and result.backend == "offline"
    assert result.prompt["prompt_version"] == 2


def test_llm_unknown_means_abstain(service):
    llm = FakeLLM('```json\n{"label": "unknown", "confidence": 0.7, "red_flags": []}\n```')
    result = llm_service(service, llm).triage.classify(COMPLAINT)
    assert result.abstain and result.action.startswith("转人工研判")


def test_offline_flag_skips_the_llm(service):
    llm = FakeLLM()  # any call would raise: the script is empty
    svc = llm_service(service, llm)
    result = TriageEngine(svc, use_llm=False).classify(COMPLAINT)
    assert result.backend == "offline" and llm.received == []


# -- command line and workbench -------------------------------------------------------------
@pytest.fixture
def cli(service, monkeypatch, capsys):
    import rag.cli_triage
    from rag.cli import main

    monkeypatch.setattr(rag.cli_triage, "service_for", lambda args: service)

    def run(*argv):
        code = main(list(argv))
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def test_triage_cli_jsonl_keeps_ids_and_order(cli, tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"id": "b", "text": "屏幕共享 安全账户 注销校园贷"}\n\n{"id": "a", "text": "重复扣款 退款没有到账"}\n',
                    encoding="utf-8")
    code, out, err = cli("triage", "--input", str(path))
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["id"] for r in rows] == ["b", "a"]
    assert [r["label"] for r in rows] == ["impersonation", "legit_complaint"]
    assert all(ARCH_FIELDS | {"id"} <= set(r) for r in rows)


def test_triage_cli_csv_and_xlsx_with_named_columns(cli, tmp_path):
    import openpyxl

    csv_path = tmp_path / "in.csv"
    csv_path.write_text("工单号,内容\nT1,征信修复 删除逾期记录 先交服务费\nT2,重复扣款 账单金额不对\n", encoding="utf-8-sig")
    code, out, err = cli("triage", "--input", str(csv_path), "--text-field", "内容", "--id-field", "工单号")
    assert code == 0, err
    assert [(r["id"], r["label"]) for r in map(json.loads, out.splitlines())] == [("T1", "credit_repair"),
                                                                                   ("T2", "legit_complaint")]
    book = openpyxl.Workbook()
    book.active.append(["工单号", "内容"])
    book.active.append(["X9", "自称客服 屏幕共享 安全账户"])
    book.save(tmp_path / "in.xlsx")
    out_path = tmp_path / "out.jsonl"
    code, _, err = cli("triage", "--input", str(tmp_path / "in.xlsx"), "--text-field", "内容", "--id-field", "工单号",
                       "--output", str(out_path))
    assert code == 0, err
    assert json.loads(out_path.read_text(encoding="utf-8"))["id"] == "X9"


def test_triage_cli_bad_inputs_fail_with_one_line(cli, tmp_path):
    csv_path = tmp_path / "in.csv"
    csv_path.write_text("id,body\n1,内容\n", encoding="utf-8")
    code, _, err = cli("triage", "--input", str(csv_path))
    assert code == 1 and "缺少文本字段 'text'" in err and "body" in err and "Traceback" not in err
    code, _, err = cli("triage", "--input", str(tmp_path / "missing.jsonl"))
    assert code == 1 and "找不到输入文件" in err
    (tmp_path / "x.pdf").write_bytes(b"%PDF")
    code, _, err = cli("triage", "--input", str(tmp_path / "x.pdf"))
    assert code == 1 and "不支持的输入文件类型" in err


def test_workbench_handlers_highlight_record_and_export(service, tmp_path):
    from ui.triage import TriageHandlers

    h = TriageHandlers(service)
    verdict, frame, marked, evidence, state = h.classify("对方说可以征信修复，删除逾期记录，要先交服务费<b>包过</b>")
    assert "征信修复诈骗" in verdict and list(frame.columns) == ["标签", "概率"] and len(frame) == 3
    assert '<mark class="xs-flag">先交服务费</mark>' in marked and "<b>" not in marked and "&lt;b&gt;" in marked
    assert 'id="xs-ev-1"' in evidence and "<details" in evidence
    assert h.record(state, "legit_complaint", "") == "请填写处理人。"
    assert "不在标签集合" in h.record(state, "not_a_label", "张三")
    assert h.record(state, "", "张三").startswith("已确认")
    assert h.record(state, "legit_complaint", "李四", "客户本人来电").startswith("已更正")
    rows = [json.loads(line) for line in h.decisions.read_text(encoding="utf-8").splitlines()]
    assert [(r["who"], r["action"], r["label"], r["original_label"]) for r in rows] == [
        ("张三", "confirm", "credit_repair", "credit_repair"), ("李四", "correct", "legit_complaint", "credit_repair")]
    assert len(rows[0]["text_hash"]) == 52 and rows[0]["when"]  # sha256 in base32: no digit run reads as a phone
    path, status = h.export_cases()
    exported = [json.loads(line) for line in open(path, encoding="utf-8")]
    assert len(exported) == 1 and exported[0]["label"] == "legit_complaint" and exported[0]["kind"] == "case"
    assert "1 条" in status

    csv_path = tmp_path / "batch.csv"
    csv_path.write_text("id,text\n1,屏幕共享 安全账户\n2,重复扣款 退款没有到账\n", encoding="utf-8")
    table, export, status = h.classify_file(str(csv_path))
    assert len(table) == 2 and "完成 2 条" in status and export.endswith(".csv")
    assert h.classify("")[0] == "请粘贴投诉内容。"

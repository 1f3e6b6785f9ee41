import pytest

from rag.prompts import PromptError, load_prompt, parse_ref
from tests.conftest import ROOT

GOOD = """id: demo
version: {v}
description: 测试
params: {{}}
variables: [question]
system: 你是助手。
user: "问题：{{{{ question }}}}"
"""


def write(root, task, version, text):
    (root / task).mkdir(parents=True, exist_ok=True)
    (root / task / f"v{version}.yaml").write_text(text, encoding="utf-8")


def test_shipped_prompts_load_and_render():
    p = load_prompt("answer", ROOT / "prompts")
    msgs = p.render(question="问", sources=[], canary="C")
    assert msgs[0]["role"] == "system" and "C" in msgs[0]["content"]
    assert len(p.sha256) == 64


@pytest.mark.parametrize("task", ["answer", "triage", "draft", "leads"])
def test_every_active_prompt_carries_a_canary_in_its_system_text(task):
    p = load_prompt(task, ROOT / "prompts")
    assert "canary" in p.spec.variables and "{{ canary }}" in p.spec.system


def test_active_version_and_explicit_override(tmp_path):
    write(tmp_path, "demo", 1, GOOD.format(v=1))
    write(tmp_path, "demo", 2, GOOD.format(v=2))
    (tmp_path / "active.yaml").write_text("demo: 1\n")
    assert load_prompt("demo", tmp_path).spec.version == 1
    assert load_prompt("demo@2", tmp_path).spec.version == 2
    assert load_prompt("demo@v2", tmp_path).ref == "demo@v2"


def test_missing_version_names_what_exists(tmp_path):
    write(tmp_path, "demo", 1, GOOD.format(v=1))
    write(tmp_path, "demo", 4, GOOD.format(v=4).replace("version: 4", "version: 4"))
    with pytest.raises(PromptError, match=r"demo@5 不存在.*现有版本：1–4"):
        load_prompt("demo@5", tmp_path)


def test_unknown_field_is_rejected(tmp_path):
    write(tmp_path, "demo", 1, GOOD.format(v=1) + "temperature: 0.3\n")
    with pytest.raises(PromptError, match="temperature"):
        load_prompt("demo@1", tmp_path)


def test_undeclared_and_unused_variables_are_rejected(tmp_path):
    write(tmp_path, "demo", 1, GOOD.format(v=1).replace("{{ question }}", "{{ question }}{{ extra }}"))
    with pytest.raises(PromptError, match="未在 variables 中声明的变量：extra"):
        load_prompt("demo@1", tmp_path)
    write(tmp_path, "demo", 2, GOOD.format(v=2).replace("[question]", "[question, unused]"))
    with pytest.raises(PromptError, match="未使用的变量：unused"):
        load_prompt("demo@2", tmp_path)


def test_missing_variable_at_render_time(tmp_path):
    write(tmp_path, "demo", 1, GOOD.format(v=1))
    with pytest.raises(PromptError, match="缺少变量：question"):
        load_prompt("demo@1", tmp_path).render()


def test_file_id_must_match_its_path(tmp_path):
    write(tmp_path, "demo", 3, GOOD.format(v=2))
    with pytest.raises(PromptError, match="应为 demo@3"):
        load_prompt("demo@3", tmp_path)


def test_hash_changes_with_the_text(tmp_path):
    write(tmp_path, "demo", 1, GOOD.format(v=1))
    h1 = load_prompt("demo@1", tmp_path).sha256
    write(tmp_path, "demo", 1, GOOD.format(v=1).replace("你是助手", "你是调查助手"))
    assert load_prompt("demo@1", tmp_path).sha256 != h1


def test_bad_reference():
    with pytest.raises(PromptError, match="任务@版本"):
        parse_ref("triage version 3")

"""Versioned prompt files: ``prompts/<task>/v<N>.yaml`` and ``prompts/active.yaml``.

A prompt file has exactly the fields ``id, version, description, params, variables, system, user``.
Unknown fields, variables used but not declared, declared but never used, or missing at render
time are errors that name the file and the fix. The file's sha256 travels with every answer and
eval row, so a result can always be traced to the exact prompt text.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

_REF = re.compile(r"^(?P<task>[a-z_]+)(?:@v?(?P<version>\d+))?$")
_env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)


class PromptError(ValueError):
    pass


class PromptSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    version: int
    description: str
    params: dict[str, Any] = {}
    variables: list[str]
    system: str
    user: str


@dataclass(frozen=True)
class Prompt:
    spec: PromptSpec
    path: Path
    sha256: str

    @property
    def ref(self) -> str:
        return f"{self.spec.id}@v{self.spec.version}"

    def render(self, **variables: Any) -> list[dict[str, str]]:
        missing = [v for v in self.spec.variables if v not in variables]
        if missing:
            raise PromptError(f"提示词 {self.ref}（{self.path}）缺少变量：{', '.join(missing)}")
        try:
            return [
                {"role": "system", "content": _env.from_string(self.spec.system).render(**variables)},
                {"role": "user", "content": _env.from_string(self.spec.user).render(**variables)},
            ]
        except jinja2.UndefinedError as exc:
            raise PromptError(f"提示词 {self.ref}（{self.path}）渲染失败：{exc}") from exc

    def stamp(self) -> dict[str, Any]:
        return {"prompt_id": self.spec.id, "prompt_version": self.spec.version, "prompt_sha256": self.sha256}


def parse_ref(ref: str) -> tuple[str, int | None]:
    m = _REF.match(ref.strip())
    if not m:
        raise PromptError(f"无法识别的提示词引用 {ref!r}：应写作 任务@版本，例如 triage@2")
    return m.group("task"), int(m.group("version")) if m.group("version") else None


def available_versions(root: Path, task: str) -> list[int]:
    return sorted(int(p.stem[1:]) for p in (root / task).glob("v*.yaml") if p.stem[1:].isdigit())


def active_version(root: Path, task: str) -> int:
    active_file = root / "active.yaml"
    active = yaml.safe_load(active_file.read_text(encoding="utf-8")) or {} if active_file.exists() else {}
    if task in active:
        return int(str(active[task]).lstrip("v"))
    versions = available_versions(root, task)
    if not versions:
        raise PromptError(f"没有任务 {task} 的提示词：{root / task} 下没有 v<N>.yaml 文件")
    return versions[-1]


def load_prompt(ref: str, root: Path) -> Prompt:
    """Load ``task`` (the active version) or ``task@N``."""
    task, version = parse_ref(ref)
    version = version if version is not None else active_version(root, task)
    path = root / task / f"v{version}.yaml"
    if not path.exists():
        have = available_versions(root, task)
        span = f"{have[0]}–{have[-1]}" if len(have) > 1 else (str(have[0]) if have else "无")
        raise PromptError(f"提示词 {task}@{version} 不存在于 {root / task}/（现有版本：{span}）")
    raw = path.read_bytes()
    try:
        data = yaml.safe_load(raw.decode("utf-8"))
        spec = PromptSpec.model_validate(data)
    except (yaml.YAMLError, ValidationError) as exc:
        raise PromptError(f"提示词文件 {path} 格式错误：{exc}") from exc
    if spec.id != task or spec.version != version:
        raise PromptError(f"提示词文件 {path} 的 id/version 为 {spec.id}@{spec.version}，应为 {task}@{version}")
    used: set[str] = set()
    for name in ("system", "user"):
        try:
            used |= jinja2.meta.find_undeclared_variables(_env.parse(getattr(spec, name)))
        except jinja2.TemplateSyntaxError as exc:
            raise PromptError(f"提示词文件 {path} 的 {name} 模板语法错误（第 {exc.lineno} 行）：{exc.message}") from exc
    declared = set(spec.variables)
    if used - declared:
        raise PromptError(f"提示词文件 {path} 使用了未在 variables 中声明的变量：{', '.join(sorted(used - declared))}")
    if declared - used:
        raise PromptError(f"提示词文件 {path} 声明了未使用的变量：{', '.join(sorted(declared - used))}（删除或在模板中使用）")
    return Prompt(spec, path, hashlib.sha256(raw).hexdigest())

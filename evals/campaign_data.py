"""A generated complaint stream with planted template campaigns, for measuring ``rag.campaigns``.

Background complaints are composed clause by clause from word pools (tens of thousands of
variants per clause), so two of them rarely share wording by chance. A planted template is one
such text with slots (name, platform, agency, amount, date, phone) that change per member; members
may also drop one sentence or add a personal one. Deterministic for a given seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from rag.campaigns import Complaint

TIMES = ["上个月", "今年三月", "前几天", "昨天晚上", "国庆节后", "去年年底", "本周一", "月初", "春节前", "半年前",
         "上周五", "最近一段时间", "这两个月", "去年夏天", "前天中午"]
WHO = ["我", "本人", "我母亲", "我爱人", "我弟弟", "我们家老人", "我同事", "我和家人", "我父亲", "我朋友"]
ACT = ["在{p}借了一笔钱", "在{p}办理了分期", "通过{p}申请了贷款", "在{p}开通了会员", "用{p}买了手机",
       "在{p}还清了欠款", "从{p}收到一条短信", "接到自称{p}的电话", "在{p}绑定了银行卡", "给{p}的客服留言",
       "在{p}提交了材料", "被{p}扣了一笔费用", "在{p}申请了延期", "在{p}查到一笔记录", "在{p}填写了资料"]
ISSUE = ["账单金额对不上", "多扣了手续费", "利息算得不明白", "催收电话打到单位", "客服一直推诿", "合同条款看不到",
         "提前还款还收违约金", "征信出现了逾期", "自动续费没有提示", "保险是默认勾选的", "短信里有陌生链接",
         "额度突然被降低", "退款迟迟不到账", "个人信息被泄露", "工作人员态度恶劣", "还款日被擅自更改",
         "验证码被别人拿走", "明细里多了一项服务费", "投诉后没人回复", "账户被莫名冻结"]
FEEL = ["心里非常着急", "觉得很不合理", "实在没有办法", "全家都很焦虑", "感觉被欺骗了", "已经影响到生活",
        "不知道该找谁", "晚上睡不着觉", "想讨个说法", "希望尽快解决"]
ASK = ["要求退还多收的费用", "请平台给出书面解释", "希望停止骚扰我的家人", "要求更正征信记录", "请尽快处理退款",
       "要求核实这笔交易", "希望协商分期还款", "要求公开收费标准", "请给我一个明确答复", "要求追究相关人员责任"]
TAIL = ["谢谢", "盼复", "麻烦尽快", "等待回复", "请核实", "辛苦了", "如不处理将继续反映", "以上情况属实"]
PLATFORMS = ["青禾分期", "云朵借", "星河借", "澄湖消费金融", "安信钱包", "融和花", "易达贷", "蓝桥白条", "金穗借款",
             "惠民分期", "快橙借", "百川金融", "顺意贷", "乐享花", "汇诚信用", "银杏钱包", "禾苗借", "长风金融"]
SURNAMES = "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨朱秦尤许何吕施张孔曹严华金魏陶姜"
AGENCIES = ["鼎诚法务", "安和债务规划", "正衡维权中心", "佳信法律咨询", "中融协商中心", "明德法务", "华安债务优化"]
CHANNELS = ["网络投诉平台", "12378热线", "监管转办", "APP反馈", "邮件来信", "在线客服", "短信举报"]


@dataclass
class CampaignSet:
    items: list[Complaint]
    planted: list[list[str]]  # member ids of each planted template


def _sentence(rng: random.Random) -> str:
    p = rng.choice(PLATFORMS)
    parts = [rng.choice(TIMES), rng.choice(WHO), rng.choice(ACT).format(p=p), "，",
             rng.choice(ISSUE), "，", rng.choice(FEEL), "，", rng.choice(ASK), "。"]
    return "".join(parts)


def _background(rng: random.Random) -> str:
    return "".join(_sentence(rng) for _ in range(rng.randint(2, 4))) + rng.choice(TAIL) + "。"


def _template(rng: random.Random) -> list[str]:
    """A template: sentences with slots {name} {platform} {agency} {amount} {date} {phone}."""
    own = [_sentence(rng) for _ in range(rng.randint(3, 5))]
    slots = [f"本人{{name}}于{{date}}在{{platform}}借款{{amount}}元，{rng.choice(ISSUE)}。",
             f"现委托{{agency}}全权处理，联系电话{{phone}}，{rng.choice(ASK)}。",
             f"{{platform}}如不在{{date}}前答复，{rng.choice(['将向监管部门反映', '将持续投诉', '将诉诸媒体'])}。"]
    out = own + slots[: rng.randint(1, 3)]
    rng.shuffle(out)
    return out


def _fill(rng: random.Random, sentences: list[str], edit: bool) -> str:
    sentences = list(sentences)
    if edit and len(sentences) > 3 and rng.random() < 0.4:
        sentences.pop(rng.randrange(len(sentences)))
    if edit and rng.random() < 0.4:
        sentences.insert(rng.randrange(len(sentences) + 1), _sentence(rng))
    values = {
        "name": rng.choice(SURNAMES) + rng.choice(["某", "某某", "女士", "先生"]),
        "date": f"{rng.randint(2022, 2025)}年{rng.randint(1, 12)}月{rng.randint(1, 28)}日",
        "platform": rng.choice(PLATFORMS), "agency": rng.choice(AGENCIES),
        "amount": str(rng.randint(10, 900) * 100), "phone": f"1{rng.choice('3589')}9{rng.randint(10**7, 10**8 - 1)}",
    }
    return "".join(sentences).format(**values)


def make_campaign_set(n_background: int = 2000, n_templates: int = 20, members: tuple[int, int] = (4, 30),
                      seed: int = 7) -> CampaignSet:
    rng = random.Random(seed)
    items: list[Complaint] = []
    planted: list[list[str]] = []

    def date() -> str:
        return f"{rng.randint(2023, 2025)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"

    for t in range(n_templates):
        tpl = _template(rng)
        ids = []
        for m in range(rng.randint(*members)):
            cid = f"tpl{t:04d}-{m:03d}"
            items.append(Complaint(cid, _fill(rng, tpl, edit=m > 0), date(), rng.choice(CHANNELS)))
            ids.append(cid)
        planted.append(ids)
    for b in range(n_background):
        items.append(Complaint(f"bg{b:06d}", _background(rng), date(), rng.choice(CHANNELS)))
    rng.shuffle(items)
    return CampaignSet(items, planted)

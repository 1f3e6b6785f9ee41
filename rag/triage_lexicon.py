"""What triage knows about the taxonomy's codes without any data: names, actions, red-flag phrases.

The codes are those of the shared taxonomy. A customer's own labels work too: they get their name
from the label itself, the generic review action, and only the red flags of their scripts.
The lexicon holds cues that are specific to black-industry material (the taxonomy's "typical
cues"); words that genuine complaints also use ("录音", "投诉", "征信") are deliberately absent.
"""

from __future__ import annotations

LEGIT = "legit_complaint"

# code -> (中文名, 推荐处置)
LABEL_INFO: dict[str, tuple[str, str]] = {
    "proxy_rights": ("非法代理维权", "转反欺诈复核：直接联系客户本人核实意愿，不与无授权第三方协商，留存代理机构线索"),
    "debt_evasion": ("恶意逃废债 / 反催收教唆", "转反欺诈复核：按合规口径答复，不因投诉施压减免；核实催收是否确有违规"),
    "credit_repair": ("征信修复诈骗", "转反欺诈复核：按征信异议流程核查事实，提示客户“征信修复”骗局，留存中介线索"),
    "loan_broker": ("不法贷款中介", "转反欺诈复核：核查申请材料真实性与资金去向，标记中介线索并评估贷款风险"),
    "impersonation": ("冒充金融机构诈骗", "转反欺诈复核（紧急）：立即联系客户本人提示勿转账，收集冒用号码与链接上报"),
    "deepfake": ("AI换脸/拟声/身份冒用", "转反欺诈复核（紧急）：核查身份认证与活体记录，必要时冻结账户并提示报警"),
    LEGIT: ("正常投诉", "按正常投诉流程处理：登记诉求，按时限核实并答复客户"),
}
ABSTAIN_ACTION = "转人工研判：证据不足或与已知类型都不相似，请人工判断（可能是新的诈骗类型）"
OTHER_ACTION = "转反欺诈复核（标签：{label}）"

LEXICON: dict[str, tuple[str, ...]] = {
    "proxy_rights": (
        "全权委托", "全权代理", "委托书", "授权委托", "法务公司", "法务团队", "法务咨询", "债务规划", "债务协商",
        "维权中心", "协商专员", "代理退保", "全额退保", "退保代理", "只与我方联系", "勿再直接联系", "不要直接联系委托人",
        "前期服务费", "按减免金额", "减免部分", "服务费比例", "委托人",
    ),
    "debt_evasion": (
        "停催", "停止催收", "减免全部", "全部减免", "只还本金", "仅还本金", "仅同意归还本金", "停息挂账",
        "我已录音", "本次通话我已录音", "已录音取证", "一直投诉", "投诉到底", "持续投诉", "反催收", "上岸",
        "不减免就", "催收非法债务罪", "LPR四倍", "一分都不还",
    ),
    "credit_repair": (
        "征信修复", "修复征信", "征信洗白", "洗白征信", "铲单", "删除逾期", "逾期记录删除", "消除逾期",
        "异议申诉包过", "包过", "内部关系", "内部操作", "先交服务费", "征信异议代办", "批量异议", "不可抗力",
    ),
    "loan_broker": (
        "包装资料", "资料包装", "做流水", "刷流水", "包下款", "百分百下款", "内部渠道", "黑户", "不看征信",
        "砍头息", "手持身份证", "代办贷款", "贷款中介", "秒批", "下款", "单位电话我",
    ),
    "impersonation": (
        "注销校园贷", "注销账户", "注销学生账户", "关闭百万保障", "百万保障", "调整额度", "屏幕共享", "共享屏幕",
        "会议软件", "安全账户", "监管账户", "资金核查", "冒充客服", "冒充", "涉嫌洗钱", "通缉令", "配合调查",
        "不要告诉家人", "点击链接",
    ),
    "deepfake": (
        "换脸", "拟声", "AI换脸", "声音克隆", "视频通话", "声音像", "声音跟", "活体检测", "翻拍",
        "冒用我的身份", "冒用身份", "不是我本人", "虚拟摄像头", "面具",
    ),
}

# code -> one line for the LLM prompt (from the taxonomy's "what it is")
DESCRIPTIONS: dict[str, str] = {
    "proxy_rights": "第三方（法务公司、债务规划、维权中心、微信代理）收费代客户维权或退保，要求减免、退款，并以群体投诉相威胁",
    "debt_evasion": "借款人受反催收组织教唆，以投诉为筹码拒还：模板化要求全额减免息费、停催、只还本金，诱导录音、伪造困难证明",
    "credit_repair": "收费“征信修复/洗白/铲单”，声称可删除逾期记录、批量代办异议、有内部关系，先收服务费",
    "loan_broker": "不法贷款中介：包装或伪造申请材料、包下款、收取高额服务费或砍头息、代做流水",
    "impersonation": "冒充机构客服、监管或警方：注销校园贷、关闭百万保障、屏幕共享、转账到安全账户",
    "deepfake": "AI换脸、拟声、翻拍、面具或盗用身份证件进行申请、授权或诈骗",
    "legit_complaint": "真实的消费者投诉：扣款错误、费用不清、催收违规、隐私、服务质量、经济困难，有具体事实，无第三方代理",
}

"""Per-label reply templates for the offline drafting engine.

A template is a greeting, fixed body lines, topic lines (included when the complaint raises that
topic: a collection complaint gets the collection lines, a fee complaint the fee lines) and a
closing. A line that states a rule carries ``ground`` terms: it is cited ``[S#]`` to the first
retrieved regulation passage that contains all of them, and left uncited otherwise (it is then our
own process statement, not a claim about a regulation). Every line is written so that it passes
``rag.draft_rules`` by construction: conditional where a fact is unverified, no promise of a waiver,
no personal data, no negotiation with a third party.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

INSTITUTION = "【机构名称】"
# The labels of ../shared/TAXONOMY.md with their Chinese names, spelled as there.
LABEL_NAMES = {
    "proxy_rights": "非法代理维权（含代理退保、代理投诉）",
    "debt_evasion": "债闹 / 恶意逃废债（反催收教唆）",
    "credit_repair": "征信修复 / 洗白 / 铲单 诈骗",
    "loan_broker": "不法贷款中介",
    "impersonation": "冒充金融机构或客服诈骗",
    "deepfake": "AI 换脸 / 拟声 / 身份冒用",
    "legit_complaint": "正常投诉",
}


@dataclass(frozen=True)
class Line:
    text: str
    ground: tuple[str, ...] = ()


@dataclass(frozen=True)
class Topic:
    name: str
    cue: re.Pattern[str]
    lines: tuple[Line, ...]


@dataclass(frozen=True)
class Template:
    label: str
    title: str  # what the reply is about, for the UI and the DOCX heading
    focus: str  # retrieval terms added to the complaint
    opening: str  # may use {about}
    body: tuple[Line, ...]
    topics: tuple[Topic, ...] = ()
    closing: tuple[Line, ...] = field(default=())


def _topic(name: str, cue: str, *lines: str | Line) -> Topic:
    return Topic(name, re.compile(cue), tuple(x if isinstance(x, Line) else Line(x) for x in lines))


CLOSING = (
    Line("如有疑问，请通过官方App或官方客服热线与我们联系，请勿轻信其他渠道的信息。"),
)

LEGIT = Template(
    "legit_complaint", "投诉答复",
    "消费投诉 处理 核实 答复 15日内 处理决定",
    "尊敬的客户：\n您好！我们已收到您的投诉{about}，理解您的心情，对给您带来的不便深表歉意。",
    (Line("我们已安排专人核实相关情况，将在收到投诉之日起15日内作出处理决定并答复您。", ("15日",)),),
    (
        _topic("deduction", r"扣|多收|收了我|收取",
               "对您反映的扣款或收费，我们将逐笔核实扣款记录和收费依据；经核实确属多扣或不应收取的款项，将按原路退还。"),
        _topic("fees", r"费|合同|收费",
               "我们将对照您的借款合同和公司公示的收费标准，向您说明相关费用的构成与依据。"),
        _topic("collection", r"催收|催收员|骚扰",
               Line("我们将调取相关催收录音和记录进行核查。催收人员不得向与借款无关的第三人（包括您的家人、亲友和同事）"
                    "透露您的债务情况，也不得以骚扰方式催收。", ("第三人",))),
        _topic("credit_report", r"征信|信用记录|信用报告|逾期记录",
               Line("关于征信记录，您本人可以提出异议；我们将在收到异议之日起20日内核查处理，并将结果书面告知您；"
                    "如核实确属报送错误，将及时更正。", ("异议", "20日"))),
        _topic("hardship", r"裁员|失业|困难|少还|分\d+期|生病|住院|收入",
               Line("如您确有还款困难，您本人可以通过官方客服申请个性化分期或延期还款，需提供收入变化证明等相关材料，"
                    "我们将按照公司政策审核后与您协商确认方案。", ("协商", "分期"))),
        _topic("helper", r"女儿|儿子|家属|母亲|父亲|我妈|我爸|老人",
               "为保护借款人的权益，相关借款事项需要与借款人本人直接核实；您可以陪同借款人本人一起与我们沟通。"),
        _topic("lawsuit", r"诉讼|起诉|法院|立案",
               "您提起诉讼的事项已转交公司法务部门依法处理；诉讼期间请继续按合同约定正常还款，按时还款不会因诉讼受到影响。"),
        _topic("add_on", r"会员|默认勾选|搭售|增值服务|保障费",
               "您可以随时申请取消相关会员或增值服务；我们将核实开通记录与授权情况，经核实非您本人自愿开通的，将按规定退还相关费用。"),
        _topic("settled", r"结清",
               "我们将核实您的账户结清状态，确认已结清的，将为您出具结清证明并停止相关提醒。"),
        _topic("account", r"注销|授信|额度",
               "账户注销需先结清借款并关闭授信额度；注销完成后，授信信息将按规定更新报送至征信系统。我们将核实您的账户无法注销的原因。"),
        _topic("merchant", r"商户|商家|商城|店员|手机店|合作",
               "我们将向相关合作商户核实情况；本公司的收费项目以借款合同和官方公示为准，合作商户不得以本公司名义另行收费。"),
        _topic("refund_goods", r"退货|退款成功",
               "请您提供退货凭证，我们将与商户核对退货信息，确认退货后冲销相应的分期账单。"),
        _topic("service", r"客服|人工|回电|转不",
               "对客服未能及时接通和回电的问题，我们将安排专人回电，向您说明相关费用的构成。"),
        _topic("pricing", r"年化|利率|日息|月息|万分之",
               "我们将以书面形式向您提供该笔借款的综合年化成本及各项费用明细。"),
        _topic("unknown_loan", r"不记得|忘记|想确认|确认一下|没印象",
               "我们可以协助您本人核实借款记录，请通过官方App或官方客服查询该笔借款的申请时间、渠道和合同。"),
        _topic("penalty", r"罚息|逾期一天|入账|几点|截止",
               "我们将核实您的还款入账时间和罚息计算过程，并向您说明还款截止时间的规则；如核实确属系统入账原因，将依规更正。"),
        _topic("mandate", r"授权|没绑定|未绑定|工资卡|代扣",
               "我们将调取并向您提供该笔扣款的授权记录，核实扣款账户的绑定情况。"),
        _topic("privacy", r"泄露|陌生电话|个人信息|推销",
               "我们高度重视个人信息保护，将对您反映的个人信息问题进行核查。如接到冒充本公司的电话或被要求转账，"
               "请不要相信，并及时向公安机关报警。"),
    ),
    CLOSING,
)

PROXY = Template(
    "proxy_rights", "关于第三方代理投诉的答复（致借款人本人）",
    "委托他人代为投诉 授权委托书原件 受托人身份证明 代理维权 代理投诉 风险提示",
    "尊敬的客户（借款人本人）：\n您好！我们收到了以您的名义提出的投诉或协商请求{about}，现直接答复您本人。",
    (
        Line("根据规定，委托他人代为投诉的，应当提供授权委托书原件和受托人的身份证明，"
             "并且授权须经我们与您本人直接核实确认。", ("授权委托书",)),
        Line("在与您本人核实授权之前，我们不会向任何第三方提供您的合同、还款记录等个人信息，相关款项也只会退回您本人名下的账户。"),
        Line("您本人可以直接通过官方客服与我们协商还款安排，不需要支付任何中介费用；我们不会与未经您本人确认的代理方协商。"),
        Line("请警惕以“代理维权”“债务优化”为名收取费用、诱导停止还款的行为，停止还款会产生逾期并影响您的信用记录。",
             ("代理维权",)),
    ),
    (
        _topic("many", r"\d+名|多名|名单|附件所列|二十多|几十",
               "对于名单中的每一位借款人，我们将逐一核实其本人意愿，并直接与借款人本人联系。"),
        _topic("waiver", r"减免|免除|打折|[七八九]折|停掉|停息|全免",
               "关于减免息费的要求，我们只能在核实您本人意愿后，依据公司政策和您的实际情况评估，无法向第三方作出任何承诺。"),
        _topic("paid", r"交了|收了|服务费|转了",
               "如您已向第三方支付费用，请保留付款凭证和聊天记录，可向公安机关报警求助。"),
        _topic("password", r"密码|账号|验证码",
               "请勿将App账号、密码和验证码告知任何人；如已告知他人，请立即修改密码。"),
        _topic("lawyer", r"律师|执业证",
               "如您确实委托了执业律师，律师身份和执业证书需经我们核验，且仍须由您本人确认授权后方可办理。"),
        _topic("withdraw", r"退保|不想投诉|撤回|签了字",
               "如您本人并不想投诉，可联系官方客服撤回以您名义提出的投诉。"),
    ),
    CLOSING,
)

DEBT = Template(
    "debt_evasion", "关于减免息费诉求的答复",
    "逃废债 反催收 减免息费 停息挂账 协商还款 个性化分期 困难",
    "尊敬的客户：\n您好！我们已收到您的来信{about}，理解您当前的还款压力。",
    (
        Line("对于您提出的减免诉求，我们需要依据公司政策和您的实际情况评估，无法承诺全额减免或停息挂账。"),
        Line("如您确有还款困难，您本人可以通过官方客服申请分期或延期还款，需如实提供收入变化、疾病等相关证明材料，"
             "我们将按照公司政策审核后与您协商确认方案。", ("协商",)),
        Line("投诉与还款协商相互独立：无论是否撤回投诉，我们都会依法依规处理，不会以撤诉作为减免的条件。"),
        Line("借款合同依法成立，欠款仍需按约归还；逾期将按合同计收罚息，并依法报送征信，可能影响您的信用记录。"),
    ),
    (
        _topic("recording", r"录音|催收员|暴力催收|骚扰",
               "对您反映的催收问题，我们将调取通话录音进行核查，如发现催收人员违规，将依规严肃处理。"),
        _topic("materials", r"证明|材料",
               "您提交的证明材料，我们将核实其真实性后按政策评估。"),
        _topic("written", r"书面",
               "我们将以书面形式答复您的诉求和处理结果。"),
        _topic("contract", r"凭证|合同|资质|不认",
               "您可以通过官方App查询借款合同和放款凭证，我们也可以在核实您的身份后向您本人提供合同副本。"),
        _topic("myth", r"规定|必须|违法",
               "目前没有要求金融机构在逾期后必须停息挂账的规定；还款安排需要依据政策协商确定。"),
    ),
    CLOSING,
)

CREDIT = Template(
    "credit_repair", "关于征信记录与“征信修复”的答复",
    "征信修复 征信洗白 骗局 异议 免费 删除逾期记录 从未授权",
    "尊敬的客户：\n您好！我们已收到您关于征信记录的来信{about}。",
    (
        Line("征信记录由我们依法如实报送，任何机构和个人都无权通过付费方式删除真实的逾期记录；"
             "中国人民银行从未授权任何机构开展所谓征信修复业务。", ("征信修复",)),
        Line("如您认为征信记录确有错误，您本人可以免费提出异议，无需委托任何机构；我们将在收到异议之日起20日内核实处理，"
             "并将结果直接告知您本人。", ("异议",)),
        Line("您本人可以通过中国人民银行征信中心等官方渠道免费查询本人信用报告。"),
        Line("以收费为条件承诺删除逾期记录、异议包过的，多为诈骗；如您已支付费用，请保留付款凭证并及时向公安机关报警。"),
    ),
    (
        _topic("agent", r"代|委托|联系人|老师|我们公司|打他电话",
               "代他人提出异议须提供信息主体本人的书面授权，我们将与信息主体本人核实，异议结果只告知申请人本人。"),
        _topic("identity", r"身份证|复印件|授权书|个人信息",
               "如您的身份证件等信息已交给对方，请留意名下账户和信用报告，防止身份被冒用，必要时向公安机关报案。"),
        _topic("forged", r"确认书|公章|盖章",
               "本公司从未出具过任何形式的逾期删除确认文件，请以您在官方渠道查询到的信用报告为准。"),
    ),
    CLOSING,
)

BROKER = Template(
    "loan_broker", "关于贷款中介的答复",
    "不法贷款中介 包装资料 服务费 砍头息 合作机构 不得收取",
    "尊敬的客户：\n您好！我们已收到您的来信{about}。",
    (
        Line("本公司从未委托任何中介或渠道商代办贷款，也没有收费的合作中介，不收取任何形式的服务费、提额费或下款费。",
             ("中介",)),
        Line("贷款申请须由您本人通过官方App或官方渠道办理，并如实填写真实的个人、工作和收入信息；"
             "伪造流水、包装资料可能承担法律责任。"),
        Line("如中介向您收取费用或伪造资料，请保留付款凭证和聊天记录，及时向公安机关报警。"),
        Line("我们将核实相关借款申请记录；如您在还款上有困难，您本人可以通过官方客服申请协商。"),
    ),
    (
        _topic("pitch", r"返点|助贷|客户资料|谈合作",
               "本公司不与任何包装资料、收取返点的中介机构开展合作，也不接受第三方转交的客户资料。"),
    ),
    CLOSING,
)

IMPERSONATION = Template(
    "impersonation", "关于冒充本公司诈骗的提示与答复",
    "冒充金融机构 客服 诈骗 注销账户 屏幕共享 安全账户 报警 96110",
    "尊敬的客户：\n您好！感谢您及时向我们反映{about}。",
    (
        Line("本公司及官方客服不会通过电话、短信或社交软件要求您注销账户、调整额度或下载会议软件进行屏幕共享，"
             "也绝不会要求您把钱转到所谓安全账户或任何个人账户。", ("安全账户",)),
        Line("金融监管部门和公安机关同样不会要求个人借款转账配合资金核查。"),
        Line("请只通过官方App或官方网站公布的官方客服电话核实信息，不要回拨对方提供的号码，不要点击陌生链接。"),
        Line("如已转账，或已向对方透露银行卡密码、验证码，请立即修改密码、联系发卡行冻结账户，并马上拨打110报警或到就近公安机关报案；"
             "也可拨打96110反诈专线咨询。", ("报警",)),
        Line("对于受骗过程中在本公司产生的借款，我们将配合公安机关调查，并依据调查结果和相关规定处理。"),
    ),
    (),
    CLOSING,
)

DEEPFAKE = Template(
    "deepfake", "关于身份冒用与“AI换脸”诈骗的答复",
    "AI换脸 AI拟声 身份冒用 深度合成 人脸识别 诈骗 报警",
    "尊敬的客户：\n您好！我们已收到您的来信{about}。",
    (
        Line("您反映的情况疑似身份被冒用或遭遇AI换脸、AI拟声诈骗，我们已启动核查，将调取申请时的人脸识别记录和视频面签影像进行核实。"),
        Line("利用AI换脸、拟声等深度合成技术冒充他人实施诈骗属于违法犯罪行为，声音像、视频里有人脸都不足以证明对方身份。",
             ("换脸",)),
        Line("请您尽快向公安机关报警（110），保留聊天记录、视频通话记录和转账凭证，并将报案回执提交给我们；也可拨打96110反诈专线咨询。",
             ("报警",)),
        Line("请只通过官方App或官方客服电话与我们联系；陌生视频通话中以亲友、领导身份提出的借款或转账要求，请通过其他方式当面核实。"),
        Line("如核实确属他人冒用您的身份申请借款，我们将依规处理相关借款，并按规定更正征信记录。"),
    ),
    (),
    CLOSING,
)

TEMPLATES: dict[str, Template] = {t.label: t for t in (LEGIT, PROXY, DEBT, CREDIT, BROKER, IMPERSONATION, DEEPFAKE)}
MAX_TOPICS = 5


def topics_for(template: Template, complaint: str) -> list[Topic]:
    """The template's topics the complaint raises, in the order the complaint raises them."""
    found = [(m.start(), i, t) for i, t in enumerate(template.topics) if (m := t.cue.search(complaint))]
    return [t for _, _, t in sorted(found, key=lambda x: (x[0], x[1]))][:MAX_TOPICS]

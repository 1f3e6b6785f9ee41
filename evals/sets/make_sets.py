#!/usr/bin/env python3
"""Write the hand-written eval sets: triage.jsonl, draft.jsonl and leads.jsonl.

The triage and draft texts below were written separately from the corpus
generator (corpus/tools/make_cases.py) and share none of its fragment banks;
``check_independent`` proves it: no eval text may share more than half of its
5-character shingles with any past case.  The lead items are computed from the
committed corpus and the gang ground truth (evals/sets/gangs.json): the expected
members of a request are the connected group(s) of cases reached through the
requested identifiers (cases are linked when they share a normalised identifier
or a template_id).

Deterministic, standard library only.  Usage::

    python evals/sets/make_sets.py            # (re)write the three files and check them
    python evals/sets/make_sets.py --check    # only check the committed files
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "corpus" / "tools"))
from make_cases import id_check_digit, luhn_digit, normalize, shingles  # noqa: E402

CASES = ROOT / "corpus" / "cases" / "cases.jsonl"
GANGS = HERE / "gangs.json"
LABELS = ("proxy_rights", "debt_evasion", "credit_repair", "loan_broker", "impersonation", "deepfake", "legit_complaint")
MAX_SHARE = 0.5  # of an eval text's own 5-character shingles, against any single case

# ============================================================================ triage
# (text, hard, note). A "hard" item is a trap: a genuine complaint that sounds
# risky, or a black-industry message that avoids the obvious words.
H = True
TRIAGE = {
    "legit_complaint": [
        ("上个月我在APP点了提前还款，结果多收了我三百多的“结清服务费”，借款合同里我没找到这个费用，麻烦给个说法。", False, ""),
        ("我今年五月被裁了，现在每个月只有两千出头的零工收入，剩下的一万一想申请分成24期慢慢还，材料我都能提供，不是不还。", H, "真实困难、本人申请分期，不是逃废债"),
        ("我妈72岁，被超市门口推销的人拿她手机开了个分期买净水器，她自己都不知道是贷款。我陪她一起打的电话，她本人可以接电话核实。", H, "家属协助老人，本人在场"),
        ("本人已委托北京某律师事务所执业律师就贵司担保费条款向法院起诉，案号（2024）京0105民初某号，诉讼期间本人照常还款。特此告知。", H, "执业律师、真实诉讼"),
        ("我的信用报告上显示贵司报了一笔2023年9月的逾期，但那期我是在还款日当天中午还的，有银行回单。我自己申请异议，请更正。", H, "本人就错误记录提异议"),
        ("催收的人昨天晚上十一点多还在打我电话，我老婆接的，他说我要是不还就去我小区贴告示。这是什么催收方式？", False, ""),
        ("你们再不退我那笔重复扣的钱，我就打12378了。4月3号扣了两笔一样的，一笔1088.50，截图都在。", H, "提到12378，但诉求具体、本人"),
        ("我在医院陪护父亲三个月，工作也丢了，逾期了两期，想问能不能免掉这两期的罚息，本金我会还。", H, "真实困难，只求免两期罚息"),
        ("APP里的“会员加速包”是默认勾上的，我一直没注意，扣了我六个月每月29.9。我要求退费。", False, ""),
        ("注销账户点了十几次都提示失败，客服电话转人工要排队四十分钟，能不能给个能用的办法？", False, ""),
        ("合作的手机店在我分期的时候收了我一笔“建档费”200元，说是你们规定的，这笔钱到底该不该收？收据我拍了。", H, "持牌合作方收费不清，不是非法中介"),
        ("收到短信说我本月账单已出，应还865.20元，落款是你们的名字，没有链接，这是你们发的吧？我想确认一下金额对不对。", H, "机构自己的正常通知"),
        ("我查到自己在你们这有一笔借款，一开始以为被盗用了，后来翻聊天记录发现是去年换手机时在营业厅办的分期，是我自己忘了。现在想问能不能改成自动扣款。", H, "自己忘记的借款，不是身份冒用"),
        ("我换了工资卡，想把还款卡换掉，APP里一直提示“银行卡校验失败”，换了三张卡都不行。", False, ""),
        ("我把情况写信给了当地金融监管局，他们让我先找你们。事情很简单：你们把我结清后的贷款又报成了逾期。", H, "提到监管局，本人事实"),
        ("我借的时候页面显示的是年化18%，实际每期的还款额算下来明显更高，想要一份完整的费用明细。", False, ""),
        ("你们的催收员在电话里叫我“老赖”，还说要让我社死，我有录音，请处理这个人。", H, "有录音的真实催收投诉，不是钓鱼取证"),
        ("我是聋哑人，只能打字沟通，你们催收一直打电话我根本接不了，能不能改用短信或者在线沟通？我没有不还的意思。", False, ""),
        ("我姐姐在外地住院，让我帮她问一下她那笔贷款能不能延期一个月，她意识清醒，可以视频确认是她本人同意的。", H, "家属代问，本人可确认"),
        ("同一笔退货，商家说已经退款了，你们的账单里还显示要还，客服让我等商家，商家让我找你们。", False, ""),
        ("本人系律师，代理客户张某与贵司金融借款合同纠纷一案，法院已立案并送达，现依法向贵司调取借款合同及还款记录，附授权委托书及律师执业证。", H, "执业律师在真实诉讼中，不是代理维权"),
        ("为什么我的额度突然从两万降到了三千？我没有任何逾期，也没有收到通知。", False, ""),
        ("我没开通过你们的“自动续费保险”，但每个月都扣了12块，已经扣了一年了。", False, ""),
        ("我被你们外包的催收公司骚扰得睡不着，已经向银保监投诉过了，这里再留一份记录：对方一天打了二十多个电话。", H, "提到银保监，真实催收骚扰"),
        ("贷款审批通过后我不想要了，放款前就点了取消，结果还是放下来了，现在要我付利息。", False, ""),
        ("我的个人信息好像被泄露了，最近总有人打电话叫我做债务重组，他们知道我在你们这里借了多少钱。", H, "提到债务重组，但本人是信息泄露受害者"),
        ("我失业两个月，愿意每个月还五百，请问有没有正规的困难客户还款方案？我不想找外面那些收费的机构。", H, "困难客户，本人"),
        ("我爸去年去世了，他在你们平台还有一笔两千多的借款没还完，我作为家属想了解怎么处理，需要提供什么材料。", H, "家属处理遗留借款"),
        ("还款日是15号，我14号晚上就还了，系统16号才入账，给我算了一天罚息。", False, ""),
        ("你们的APP更新后看不到历史账单了，我想核对去年交的利息，能不能导一份给我？", False, ""),
        ("我已经咨询了律师，如果你们不退多收的担保费，我会去法院起诉。但在这之前我想先听听你们的解释，合同编号在附件里。", H, "提到律师和起诉，本人诉求具体"),
        ("贷款到期后自动续借了，我根本没申请续借，现在又多出一期利息。", False, ""),
        ("我的征信报告上贵司的授信额度还显示着，我已经注销账户三个月了，影响我办房贷，请更新。", H, "本人征信更新诉求"),
        ("你们的客服说会在48小时内回复我，今天已经第五天了。", False, ""),
        ("你们给我打电话推销贷款，我说了不需要，还是每天都打，请把我加到免打扰名单里。", False, ""),
        ("孩子生病住院花了四万多，这个月的还款可能要晚几天，我想先报备一下，别算我逾期行吗？", H, "医疗困难，主动报备"),
        ("利息是按照全部本金算的，但我每个月都在还本金，为什么利息一点都没少？这是不是不合理？", False, ""),
        ("合同里写的是等额本息，实际扣款每期金额都不一样，我想要一个解释。", False, ""),
        ("如果这个月再不处理，我打算去人民银行申请征信异议——那条逾期根本不是我造成的，是你们扣款失败没有通知我。", H, "提到人民银行，本人征信争议"),
        ("我在你们这里买的分期手机坏了，商家不给保修，能不能先暂停扣款？", False, ""),
        ("我是借款人的女儿，我爸中风后说话不清楚，这个月的还款我来帮他还，但APP只能本人操作，怎么办？", H, "家属协助"),
        ("换绑手机号需要原手机号验证码，可我原来的号已经注销了，人工客服一直说没办法。", False, ""),
        ("你们催收发的短信写着“即将上门走访并通知村委会”，这样合规吗？", False, ""),
        ("上周还款时系统提示成功，可第二天又说还款失败，钱已经从我卡上扣走了。", False, ""),
        ("我没有委托任何公司，也没找过中介，就是我自己对你们收的账户管理费有意见，希望你们直接跟我说明。", H, "提到委托、中介，但明确是本人"),
        ("借款时说好不收任何手续费，到账少了四百块，说是“风险保障金”。", False, ""),
        ("疫情那两年我在外地打工，确实逾期过，但都还清了。现在想问一下你们是否按实际情况上报的，我自己查报告的话看哪一栏？", H, "本人询问征信报送"),
        ("你们的自动扣款把我信用卡里的钱扣了，我明明绑的是储蓄卡。", False, ""),
        ("我的借款明细里有一笔“提前还款违约金”680元，可我是按期还完的。", False, ""),
        ("我有抑郁症在治疗，最近情况不好，催收电话让我很崩溃，能不能换成只发短信？我会尽量按时还。", H, "医疗困难"),
        ("我申请了退还多收的利息，你们同意了但说退到原账户，可那张卡已经注销了。", False, ""),
        ("你们的人脸识别一直失败，我已经试了二十多次，借款申请卡在这一步。", H, "人脸识别的服务问题，不是换脸"),
        ("催收员把我的欠款信息发到了我们家族微信群里，我要求删除并道歉。", False, ""),
        ("我老公瞒着我借了钱，现在催收打给我，我不是借款人也不是担保人，请不要再打给我。", H, "第三人被骚扰的真实投诉"),
        ("我还了全部本金和利息，可是APP显示还欠0.37元，导致一直不能结清。", False, ""),
        ("额度调整以后利率从24%变成了35%，没有任何通知，也没有让我确认。", False, ""),
        ("我在12378反映过一次，你们回电说核实后给我退，可到现在还没退。退款金额是256元。", H, "提到12378"),
        ("申请贷款时说只查一次征信，结果我的报告上出现了你们三次查询记录。", H, "本人征信查询争议"),
        ("你们的协商专员说可以给我减免部分罚息，但要先把本金还清，我还清后又说不能减免了。", H, "“协商专员”是机构员工"),
        ("我只是想问一下怎么开结清证明，客服让我下载另一个APP，我不想装那么多APP。", False, ""),
        ("我和我妈都在你们这借了钱，她的那笔我帮她还，能不能把两个账户的还款日调成一样？她同意的，电话就在旁边。", H, "家属协助，本人同意"),
        ("借钱的时候有个“极速审核”收费选项，我没选，可账单里还是有这笔19.9元的费用。", False, ""),
        ("今年生意亏了，我手上的钱只够还一半，请问你们有没有延期或者分期的政策？我不要求免利息。", H, "经营困难，本人"),
        ("你们发的还款提醒短信里写错了我的姓名，是不是把别人的信息发给我了？", False, ""),
        ("我在你们合作的驾校报名用了分期，驾校倒闭了，课没上完，能不能停止还款？", False, ""),
        ("我打算向消费者协会和金融监管局投诉，不是为了不还钱，而是你们的催收员威胁说要找我单位领导。", H, "提到监管，真实催收问题"),
        ("你们的电子合同我下载不了，一直显示“文件生成中”，我需要这份合同去办理其他手续。", False, ""),
        ("有一笔扣款备注是“服务费代收”，我不知道是什么服务，请说明。", False, ""),
        ("我本身是执业律师，今天是以儿子的身份帮我母亲问她的借款是否已经结清，母亲就在旁边，可以当场确认身份。", H, "律师身份但是家属协助"),
        ("能不能把我的还款日改一下？我每个月工资25号才发，还款日是20号，总是来不及。", False, ""),
        ("你们推荐的保险我在犹豫期内申请退保了，保险公司说已退，你们这边的费用还没退回。", False, ""),
        ("我自己在网上写了一份征信异议申请，请问直接发给你们客服邮箱就行吗？需要附什么证明？", H, "本人异议"),
    ],
    "proxy_rights": [
        ("您好，我是王先生的债务规划顾问，他的所有借款事宜已交由我们处理，请将还款方案发给我，不要再联系他本人。", False, ""),
        ("我们团队代理了十几位贵司客户，统一要求全额减免息费，请安排负责人对接，否则集体投诉到监管。", False, ""),
        ("受李女士全权委托，现要求贵司退还其保险费共计3480元，退款请转至我司账户，如需核实请联系我司协商专员。", False, ""),
        ("我交了1800块给一个“维权中心”，他们让我把你们的电话都拉黑，说一个月内帮我把利息谈掉。现在他们又要我再交尾款。", False, ""),
        ("我替我表弟打的，他的事我全权负责。你们先把罚息停了，本金我们可以分三十期，成不成给句话，他本人不方便接电话。", H, "自称亲属，但拒绝本人接触并提条件"),
        ("本中心受理了贵司借款人赵某的投诉，经我方律师审查，贵司存在多项违规，请三日内答复我中心。", False, ""),
        ("你们别再打给我老婆了，她的事现在由我们公司处理，我是负责她这个案子的专员，有事打我电话。", False, ""),
        ("有个人说能帮我把贷款的钱“打掉”一半，条件是谈成后分他三成，他让我把你们APP的账号给他。你们会跟他谈吗？", H, "没有“委托”“法务”字样的付费代理"),
        ("附件为委托人签署的授权委托书，委托事项：代为投诉、协商、签署和解协议、代收退款。请贵司与受托人联系。", False, ""),
        ("我们是专业做金融消费者维权的，已经帮上千人成功退费，贵司客户孙某某的会员费必须全额退还。", False, ""),
        ("请不要联系借款人，他已经授权给我们，任何电话我们都会录音作为投诉材料。", False, ""),
        ("我在抖音上找了个“退保”团队，他们说我在你们这里借款时买的保险可以全退，只要签个字，退回来的钱他们拿四成。这正规吗？", False, ""),
        ("麻烦你们把刘某的合同、还款记录和通话录音都发给我，他的事情我这边在跟，我们准备一起提交上去。", H, "第三方索要客户信息"),
        ("我司“信安债务优化中心”郑重告知：客户陈某某已与我司签约，自即日起暂停一切还款，协商结果另行通知。", False, ""),
        ("客户只是挂名，实际沟通人是我，我们要的是利息全免加本金打七折，这个方案其他平台都同意了。", False, ""),
        ("投诉人联系方式填的是我的号码，是因为她把事情全权交给我了，你们直接跟我说结果就行。", False, ""),
        ("这封邮件是替我们的会员周女士发的，附件里有她的身份证和授权书，请在五个工作日内把多收的利息退到附件里的账户。", False, ""),
        ("加了一个律师团队的微信，他们让我交两千定金，说能帮我“依法不还”，我有点犹豫，想问问你们有没有这样的合作。", False, ""),
        ("你们客服能不能直接跟小赵对接？我这边的四个贷款都是他在帮我谈，他比我懂，我说不清楚。他费用也不高。", H, "客户本人把沟通交给收费的第三方"),
        ("我们接受了二十多位借款人的委托，他们的诉求一致：退还全部砍头息和担保费，请给出统一方案。", False, ""),
        ("我不是借款人，我是帮他处理债务的。你们今天不给回复，明天我们就去你们公司楼下拉横幅。", False, ""),
        ("朋友介绍的一个“老师”说他手里有你们的“内部协商通道”，只要我签个字他帮我处理到底。我签了，他还收了我1200，现在你们还在催我，是怎么回事？", H, "付费代理的受害客户"),
        ("维权联盟第37号告知函：借款人名单见附件，请贵司逐一核减息费，并向我联盟书面反馈。", False, ""),
        ("代理退保，全额退还，不成功不收费——这是对方发给我的广告，我按他说的填了表，他们就以我的名义投诉你们了，但我其实并不想投诉。", False, ""),
    ],
    "debt_evasion": [
        ("我就一句话：利息罚息全免，我只还本金，分五年。你们不同意我每天一个投诉。", False, ""),
        ("你们的催收每次打电话我都录音，只要有一句不对我就去举报，你们自己掂量。", False, ""),
        ("根据相关规定，逾期后金融机构必须给予停息挂账，你们不办理就是违规，我要求立即办理。", False, ""),
        ("我已经在群里学会了怎么对付你们，报工号、录音、投诉一条龙，劝你们早点给我减免。", False, ""),
        ("我现在就是一分钱都不想还了，反正你们收的利息本来就不合法，等你们同意只收本金再说。", H, "没有“停息挂账”字样的拒还"),
        ("我有失业证明，你们必须免掉全部利息，否则我就去监管部门投诉你们暴力催收。", False, ""),
        ("按照最高法的规定，超过LPR四倍的利息都无效，我之前多还的全部冲抵本金，剩下的我不还了。", False, ""),
        ("再打电话我就报警说你们骚扰，我已经准备了十几份投诉材料，就等你们犯错。", False, ""),
        ("你们刚才那个人是不是说要联系我家人？你再说一遍，我开着录音呢。对，你说了，我会把这段发给监管。", False, ""),
        ("我加入的群有三千人，大家都在投诉你们，你们不给减免我们就一直投。", False, ""),
        ("我不是还不起，是不想还你们这种高利贷，除非你们书面承诺免除全部息费。", False, ""),
        ("这是我的诉求书：一、停止催收；二、停息挂账；三、减免全部利息罚息；四、本金分60期。以上不接受讨价还价。", False, ""),
        ("你们要么今天出一份书面文件说后面的钱都不要了，要么我这个月每天打一遍热线，看谁耗得过谁。", H, "用投诉要挟全免，没有常见关键词"),
        ("听说投诉满十次你们就会让步，我这是第四次，还有六次。", False, ""),
        ("我的朋友教我，只要说自己抑郁症、失业，你们就得减免，我现在就这么说，你们看着办。", False, ""),
        ("我要求你们出示我借款的全部原始凭证和催收公司资质，出示不了这笔钱我就不认。", False, ""),
        ("群主说了，先停还三个月，等平台主动找我们谈，我们就按群主的方案来，你们别白费力气。", False, ""),
        ("我准备好了医院的证明和社区的困难证明，都是托人开的，你们按困难客户处理吧，利息一分别想要。", H, "自认材料是托人开的"),
        ("我在网上下载了一份“停催申请书”，按照模板填好发给你们了，请按要求执行。", False, ""),
        ("反正信用记录已经花了，我也不在乎，你们不同意我的方案，我就拖着，看你们怎么办。", False, ""),
        ("我已经向十几个部门投诉了你们，只要你们给我全部减免，我马上撤诉。", False, ""),
        ("老师让我先把钱转走，卡里留个零头，然后跟你们说没钱，说这样谈的条件最好。你们就直接给最好的条件吧。", H, "有人教唆转移资金装穷"),
        ("你们催收员的电话被我挂了二十次了，下次再打来我就录下来发到网上，不给我免息我一分不还。", False, ""),
        ("所有平台我都停还了，他们都在跟我谈减免，你们家也一样，别搞特殊。", False, ""),
    ],
    "credit_repair": [
        ("【信用修复中心】逾期记录、呆账、查询次数过多，均可专业处理，成功后付款。", False, ""),
        ("我花了四千块找人删征信上的逾期，对方说两周见效，现在一个月了什么都没变，人也联系不上了。", False, ""),
        ("有家公司说他们能用“异议申诉”把我在你们这的逾期撤掉，包成功，收费三千五，是真的吗？", False, ""),
        ("你好，我这边是帮客户处理征信的，这个客户的逾期是疫情导致的，请按非恶意逾期给删掉，我们这个月还有二十多单要交。", False, ""),
        ("有人跟我说只要交两千块，他能让我报告上那几条不好的记录“消失”，他说跟你们的后台很熟。你们能配合出个证明吗？", H, "没有“征信修复”字样"),
        ("本人申请删除贵司上报的逾期记录，理由是疫情期间隔离，附社区隔离证明一份。联系人：黄老师。", False, ""),
        ("专业“洗白”网贷逾期，铲单、结清证明、征信优化，全国可做，价格私聊。", False, ""),
        ("朋友说网上有人能把征信“刷白”，先交定金再办，我转了1500过去，对方让我把你们APP的账号密码给他。", False, ""),
        ("我们公司承接征信修复业务，有合作律师出具律师函，请贵司配合撤销以下借款人的逾期记录（名单附后）。", False, ""),
        ("对方说我只要签个授权，他们就能以我的名义向人民银行提交材料，让那条记录变成“正常”，费用按条算，一条八百。", H, "按条收费代办异议"),
        ("你们的逾期记录能不能花钱消掉？有个中介说能找到内部的人。", False, ""),
        ("同一天你们收到的十几份异议申请，其实都是我们公司代客户提交的，格式一样很正常，请尽快处理。", False, ""),
        ("我被征信修复公司骗了，他们拿了我的身份证复印件和授权书，现在不知道会不会被拿去乱用。", False, ""),
        ("征信有问题别着急，专业团队帮你“修”，不成功全额退。", False, ""),
        ("我想请你们出一份“非恶意逾期证明”，修复公司说有这个就能删记录，他们收了我一半的钱了。", False, ""),
        ("对方给我发了一张“人民银行征信中心”盖章的删除确认书，我查了报告发现根本没删，这是假的吧？", False, ""),
        ("我们帮客户做的是“信用优化”，不是别的，就是把你们报的那几条记录处理掉，你们配合一下我们就给客户交差了。", H, "换个说法的付费删记录"),
        ("修复公司让我写一份投诉，说你们“未经授权上报征信”，投诉成功他们才能帮我删，可我借款时是同意过的。", False, ""),
        ("你好，请问“征信异议包过”是你们推出的服务吗？短信里说是官方合作。", False, ""),
        ("我的逾期已经还清，有人说给他三千块就能把记录提前撤掉，不用等五年，请问可信吗？", False, ""),
        ("修复工作室要求我先把所有平台的贷款都结清，再由他们统一“清洗”记录，费用一万二。", False, ""),
        ("网上那个“老师”说他能让我报告上的“关注”“次级”变回“正常”，他要我的身份证和你们的合同照片，你们这边能查到他有没有提交过什么材料吗？", H, "没有“修复”字样"),
        ("我付了钱给一家征信公司，他们以我的名义给你们发了异议，现在你们来电核实，我其实不清楚他们写了什么。", False, ""),
        ("代办征信异议，加急三天出结果，需要的客户私信。", False, ""),
    ],
    "loan_broker": [
        ("中介帮我弄了假的工资流水，贷款下来后他们拿走了三成的服务费，我现在每月还款压力很大。", False, ""),
        ("包装资料，包下款，黑户也能做，服务费后付，详情咨询。", False, ""),
        ("审核员打电话来问我单位地址，我答不上来，因为单位是中介帮我填的。", False, ""),
        ("有个哥们说他有办法让我的申请过，帮我改了一下收入和工作的信息，钱下来后他拿走四成，说这是规矩。", H, "没有“中介”“包装”字样"),
        ("我们这边可以帮客户做一套完整的申请资料，包括社保和公积金截图，贵司能不能开个内部通道？", False, ""),
        ("放款当天中介陪我去银行取钱，直接拿走了五千，说是“下款费”。", False, ""),
        ("中介让我拿着身份证在他们办公室拍照，背景墙上挂满了不同人的照片，后来我才知道都是这样代拍的。", False, ""),
        ("我通过一个贷款顾问申请的，他让我把手机给他操作，之后我才知道他用我的手机申请了三家平台。", False, ""),
        ("无视征信，当天放款，点位12个点，资料全包。", False, ""),
        ("中介说你们是他的合作方，能帮我提额，收了我一千二的“提额费”，额度根本没变。", False, ""),
        ("那个帮我填表的人说，收入写高点才能过，让我跟审核员说自己是工厂主管，其实我在送外卖。钱到了他收了两千。", H, "没有“中介”字样的资料造假"),
        ("我在贷款超市遇到一个“专员”，他说交一笔保证金就能保证通过，我交了之后申请还是被拒。", False, ""),
        ("中介让我先借一笔小额，然后马上还，说这样能“养额度”，每次操作收我三百。", False, ""),
        ("这个工作证明上的公司根本不存在，是中介给的模板，我只改了名字。", False, ""),
        ("中介要我把所有银行卡、U盾都交给他保管一个月，说是帮我“做流水”。", False, ""),
        ("亲戚介绍了个门路，说他认识放款的人，帮我把申请单“润色”一下就能批，下来后按比例给他辛苦费。现在我还不上了。", H, "熟人“门路”，实为代办造假"),
        ("有个中介冒用你们的名义在朋友圈发广告，说是你们的“授权渠道商”。", False, ""),
        ("中介让我在审核回访时说借款用途是装修，其实钱是他拿去放贷了。", False, ""),
        ("贷款顾问收了我2800服务费，合同上写的是“咨询费”，还让我别跟你们的审核说，请问这是你们要求的吗？", False, ""),
        ("我们公司专门做助贷，手上客户资料都是我们包装好的，想和贵司谈一下合作返点。", False, ""),
        ("办理时中介说只收1%手续费，放款后却让我签了一张两万的借条作为“担保”。", False, ""),
        ("帮我办的那个人说你们系统看不出来，让我把流水里的几笔转账备注成“工资”，他帮我弄，收五百。", H, "伪造收入，没有“中介”字样"),
        ("贷款前中介帮我下载了十几个APP挨个申请，现在我的征信查询记录爆了，他却收了我三千。", False, ""),
        ("我是被中介骗来借款的，他说帮我借钱买车，钱到账后他转走了大半，车也没见到。", False, ""),
    ],
    "impersonation": [
        ("刚才有个自称你们客服的人说我大学时开通了学生贷款账户，不注销会影响征信，让我下载一个会议软件操作，这是你们的人吗？", False, ""),
        ("收到一条短信，署名是你们公司，说我的账户存在异常，要点击链接完成身份验证，否则24小时后冻结。这是你们发的吗？", False, ""),
        ("有人冒充你们的工作人员，说我的“百万保障”服务要扣费，要我关闭，让我把钱转到他指定的账户。我转了8600元。", False, ""),
        ("一个号码打来说是金融监管局的，说我名下有网贷没结清，要配合调查，让我借钱转到“安全账户”。", False, ""),
        ("有人打电话说我以前在学校办的那个东西还没关，要我按他说的在手机上点几下，再把额度里的钱转出去验证一下，我觉得不对就挂了。", H, "没有“注销”“共享屏幕”字样"),
        ("收到短信说可以把我的借款利率降到3%，让我回拨一个400号码，打过去对方让我先还清现有贷款再重新申请。", False, ""),
        ("对方知道我的姓名和身份证号，说是你们风控部的，说我的借款涉嫌洗钱，需要把钱转过去核查。", False, ""),
        ("我在搜索引擎上找到的“客服电话”，打过去对方让我开启屏幕共享，后来我的卡被转走了一万二。", False, ""),
        ("有人加我微信说是你们的客户经理，可以帮我提额，要我先交“验资金”。", False, ""),
        ("刚才电话里说我的贷款逾期了要上报征信，让我马上还到一个个人账户，这是你们的催收吗？", False, ""),
        ("对方说我误开通了会员每月扣费，要我下载APP共享屏幕取消，我按要求操作后被骗三千多。", False, ""),
        ("对方说话很专业，报了工号，说是帮我把“之前勾选的服务”取消，要我配合在几个平台上借款再还回去，说这样才能“清零”。我现在借了两笔了。", H, "话术专业，没有常见关键词"),
        ("我收到的短信链接打开后跟你们的APP登录页一模一样，我输了密码和验证码，账户里的额度被借走了。", False, ""),
        ("有人自称公安局的，说我涉嫌一起诈骗案，要我配合资金清查，把钱借出来转到他们的账户。", False, ""),
        ("短信说我的借款合同存在违规，将被起诉，请立即联系“法务部”处理，留了个手机号。这种短信是真的吗？", False, ""),
        ("对方以贵司名义通知我退还“多收的利息”，要我提供银行卡号和验证码。", False, ""),
        ("接到自称平台客服的电话，说我的借款额度可以转为现金，只要先充值一笔手续费。", False, ""),
        ("有人在QQ群里冒充贵司的员工，发“内部低息贷款”的链接，我的同事已经被骗了。", False, ""),
        ("下午一个男的打给我，很客气，说我账户设置有问题，今天不处理明天就会自动扣一大笔钱，让我把资金先挪到一个他给的账户里“保管”。", H, "没有“安全账户”等字样"),
        ("我在短视频平台看到一个直播间说是你们的官方直播，可以领免息券，加了客服以后让我先交押金。", False, ""),
        ("对方发来的“官方通知”上有你们的公章，说我的账户要升级，需要交1000元升级费。", False, ""),
        ("骗子冒充你们的催收，说我已经逾期，要求转账到私人微信，请核实我是否真的逾期。", False, ""),
        ("对方让我把借来的钱转到“监管专户”，说是为了证明我有还款能力，转完就联系不上了。", False, ""),
        ("电话那头说是“平台安全中心”，说有人在异地登录我的账号，要帮我冻结，让我把验证码念给他听，然后账户里就多了一笔借款。", H, "验证码被骗，没有“客服”字样"),
    ],
    "deepfake": [
        ("我的身份证丢过，现在发现有人用它在你们这借了两万，申请时还通过了人脸识别，那根本不是我。", False, ""),
        ("我接到儿子的视频电话，画面和声音都是他，说出事了急需用钱，我在你们平台借了五万转过去，后来才知道是AI换脸。", False, ""),
        ("公司领导在视频会议上让我转账，画面里就是他本人，事后才知道是伪造的视频，我为此借了三万。", False, ""),
        ("我从来没申请过你们的贷款，但信用报告上有一笔，客服说有刷脸记录，请调取视频看看那是谁。", False, ""),
        ("我爸刚刚跟我视频了十秒钟就说信号不好，让我往一个卡里打钱，声音确实是他。我钱不够，在你们这借了一笔，现在联系上我爸，他说根本没打过。", H, "没有“换脸”“AI”字样"),
        ("审核时发现申请人的活体视频有明显的拼接痕迹，眼睛眨动不自然，疑似使用了换脸软件。", False, ""),
        ("有人用我的照片和合成的声音给我妈打电话借钱，我妈在你们平台借款后转给了对方。", False, ""),
        ("我在网上看到一个视频，里面的人用我的脸在做贷款推广，我担心我的身份信息被拿去申请贷款了。", False, ""),
        ("申请视频里的人是对着另一块屏幕翻拍的，屏幕边框都拍进去了，但系统还是给过了。", False, ""),
        ("同一个人脸在我们系统里对应了五个不同的身份证，都是最近一周申请的。", False, ""),
        ("我奶奶说“我”给她打了视频，让她帮忙借点钱交学费。可那天我在考试，手机都交了。她已经在你们平台借了八千转出去了。", H, "没有“换脸”字样"),
        ("我的身份证被前同事拿去用了，他还找人做了一段我的视频，在你们这里借了钱，请注销这笔借款。", False, ""),
        ("有人冒用我的身份信息在你们这里借款，借款时绑定的手机号和银行卡都不是我的。", False, ""),
        ("我接到“朋友”的视频，他说手机坏了借我的号用，还让我帮他借钱，视频里确实是他的脸，可后来他说没这回事。", False, ""),
        ("申请人上传的身份证照片是翻拍的，活体检测时面部边缘出现明显的闪烁。", False, ""),
        ("我没有下载过你们的软件，可你们说我去年十月在线签了合同，还“本人”录了视频。我要求看那段视频。", H, "像“忘了借款”，其实是冒用"),
        ("AI换脸诈骗：对方冒充我老板视频通话，让我帮他垫付货款，我借了两万多转过去。", False, ""),
        ("我发现有人用我的身份在你们这里通过了视频面签，可我那天在医院做手术，怎么可能面签？", False, ""),
        ("客户来电称其声音被人合成，骗子用他的声音给他父亲打电话，父亲借钱后转给了骗子。", False, ""),
        ("我怀疑我的人脸信息被泄露了，最近收到好几家平台的放款短信，我都没申请过。", False, ""),
        ("申请人的声纹与其三个月前的来电录音差异很大，且回答问题前总有两三秒停顿。", False, ""),
        ("视频里那个“我”穿着我上周朋友圈里那件衣服，我妈就信了，借了钱转出去。我们已经报警了，借款能不能先停一下？", H, "合成视频，没有关键词"),
        ("有人用我去世父亲的身份证和照片在你们平台申请了借款，这怎么可能通过审核？", False, ""),
        ("我收到你们的催收电话，说我借的钱逾期了，可借款时用的视频根本不是我，我的身份证号被盗用了。", False, ""),
    ],
}

# ============================================================================ draft
# (label, complaint, must_include, must_not, notes). must_include: phrases a reply
# grounded in the complaint would contain; must_not: rule ids of the draft checker.
NO_PII = "leak_pii"
DRAFT = [
    ("legit_complaint", "我在木棉花分期的4月账单被重复扣了两次，每次1265.40元，第二笔到现在还没退回来。我已经打过三次客服了，请尽快处理。",
     ["1265.40元", "核实", "退还"], ["admit_fault", NO_PII], "重复扣款：说明核实流程与退款时限，不在核实前认定责任"),
    ("legit_complaint", "锦程分期提前结清时多收了我420元“提前还款服务费”，合同里找不到这个收费依据，要求退还。",
     ["420元", "合同", "核实"], ["admit_fault", NO_PII], "引用合同条款核实，给出处理时限"),
    ("legit_complaint", "你们的催收员连续三天晚上十点以后给我父母打电话，说我欠钱不还，我父母都七十多了被吓得睡不着。我逾期是事实，但请不要骚扰家人。",
     ["催收", "家人", "核查"], ["admit_fault", NO_PII], "承诺核查催收行为、说明第三方联系规范"),
    ("legit_complaint", "我在星河借的借款2023年11月已结清，今年2月银行告诉我征信上还有你们报的一笔逾期，金额987.60元。我自己提异议，附了结清证明。",
     ["987.60元", "异议", "征信"], ["admit_fault", NO_PII], "本人征信异议：说明核查时限（20日）与结果告知"),
    ("legit_complaint", "我今年被裁员了，剩余欠款14600元，想申请分24期还，不要求减免，只希望每月少还一点。我没有找任何中介。",
     ["14600元", "分期", "材料"], ["promise_waiver", NO_PII], "困难客户：说明申请流程与所需材料，不承诺政策外减免"),
    ("legit_complaint", "我是借款人的女儿，我妈75岁，被保健品店的人用她手机开通了和风e贷分期，金额6800元。我妈本人就在身边，可以接电话。",
     ["6800元", "本人", "核实"], ["admit_fault", NO_PII], "家属协助老人：与借款人本人核实，说明可陪同"),
    ("legit_complaint", "本人已就担保费条款向法院提起诉讼，案件已立案，诉讼期间我会继续按月还款。请贵司知悉，后续由我的律师与贵司联系。",
     ["诉讼", "法务", "还款"], ["admit_fault", "promise_waiver"], "真实诉讼：转法务，说明正常还款不受影响"),
    ("legit_complaint", "借款时页面默认勾选了“提额会员”，每月扣19.9元，已经扣了8个月，我从来没用过，要求退费并取消。",
     ["19.9元", "取消", "核实"], ["admit_fault", NO_PII], "搭售会员：先取消、核实开通记录后处理退费"),
    ("legit_complaint", "我的拾光分期已经结清一个月了，还有人打电话说我逾期，还从我建设银行卡上扣了312.08元。",
     ["312.08元", "结清", "核实"], ["admit_fault", NO_PII], "结清后误催收：核实账户状态、退款、出具结清证明"),
    ("legit_complaint", "注销小满借账户一直提示“存在未完成业务”，可我没有任何借款。征信上还挂着你们两万元的授信额度，影响我办车贷。",
     ["注销", "授信", "征信"], [NO_PII], "注销与授信更新"),
    ("legit_complaint", "我在手机店分期买手机，店员收了我200元“建档费”，说是你们规定的。你们到底有没有这项收费？",
     ["200元", "合作", "核实"], ["admit_fault", NO_PII], "合作商户收费不清：核实并说明本公司收费标准"),
    ("legit_complaint", "打了三天客服电话都转不到人工，之前承诺24小时回电也没兑现。我只想知道账单里多出来的86.5元是什么费用。",
     ["86.5元", "回电", "费用"], [NO_PII], "服务问题：致歉并说明费用构成"),
    ("legit_complaint", "你们宣传日息万分之三，我的满月贷借款算下来年化接近30%，请书面告诉我综合年化成本。",
     ["年化", "书面", "费用"], ["admit_fault", NO_PII], "息费透明：提供综合年化成本"),
    ("legit_complaint", "我在合作商城分期买的家具已经退货，商家说退款成功，可青柠花的分期账单还在扣，每期498元。",
     ["498元", "退货", "商户"], ["admit_fault", NO_PII], "退货未冲销：与商户核对后冲销"),
    ("legit_complaint", "我不记得在你们这借过钱，催收打给我才知道有一笔3000元的借款。后来想起来可能是去年手机店办的分期，想确认一下。",
     ["3000元", "本人", "核实"], [NO_PII], "客户忘记的借款：协助本人核实借款记录"),
    ("legit_complaint", "我15号晚上十点还的款，系统算我逾期一天，收了我12.3元罚息，还影响了我的信用记录吗？",
     ["12.3元", "罚息", "核实"], ["admit_fault", NO_PII], "入账时间：说明截止规则并核实"),
    ("legit_complaint", "从我没绑定的工资卡上扣走了1560元，导致我信用卡还款失败产生滞纳金。我要看扣款授权记录。",
     ["1560元", "授权", "核实"], ["admit_fault", NO_PII], "扣款授权：提供授权记录"),
    ("legit_complaint", "最近很多陌生电话知道我在你们平台借过钱，推销各种贷款，怀疑你们泄露了我的信息。",
     ["个人信息", "核查", "报警"], ["admit_fault", NO_PII], "疑似信息泄露：说明核查，外部诈骗可报警"),
    ("proxy_rights", "我司受借款人王某全权委托，要求贵司全额减免其在青禾分期的全部息费，本金8000元分24期，三日内答复我司协商专员，否则向监管集体投诉。",
     ["本人", "授权", "8000元"], ["negotiate_with_agent", NO_PII, "promise_waiver"], "回复借款人本人：需经本人核实的授权，本人可直接申请协商，不收费"),
    ("proxy_rights", "我在网上找了个“债务优化”公司，交了3200元服务费，他们让我停止还款，说能帮我把利息全免。现在逾期了，他们也联系不上了。",
     ["3200元", "本人", "协商"], ["negotiate_with_agent", NO_PII, "promise_waiver"], "受害客户：本人可直接协商，建议报警追回费用"),
    ("proxy_rights", "投诉人已委托我中心代为处理，请将投诉人在云朵借的合同、还款记录发到我中心邮箱，并将退费打到我中心账户。",
     ["本人", "授权", "信息"], ["negotiate_with_agent", NO_PII], "拒绝向第三方提供信息，回复本人"),
    ("proxy_rights", "我表哥的贷款由我全权处理，他不会接你们电话。你们先把罚息停掉，本金打七折，同意就给我回个话。",
     ["本人", "授权", "核实"], ["negotiate_with_agent", NO_PII, "promise_waiver"], "需本人确认的授权；方案只与本人沟通"),
    ("proxy_rights", "一个“退保团队”以我的名义投诉你们，要求退还借款保障费2650元，退款要打到他们公司账户。我其实不想投诉，只是签了字。",
     ["2650元", "本人", "账户"], ["negotiate_with_agent", NO_PII], "款项只退本人账户；可撤回第三方投诉"),
    ("proxy_rights", "维权联盟告知函：附件所列27名借款人已授权我联盟，请贵司逐一减免息费并书面回复我联盟。",
     ["本人", "授权", "逐一核实"], ["negotiate_with_agent", NO_PII, "promise_waiver"], "逐一联系借款人本人核实"),
    ("proxy_rights", "有个老师说他有你们的内部协商通道，收了我1500元，让我把APP账号密码给他。请问你们有这种合作吗？",
     ["1500元", "本人", "密码"], ["negotiate_with_agent", NO_PII], "无任何付费合作渠道，本人可直接协商；提醒改密码，建议报警"),
    ("proxy_rights", "我是借款人的代理律师（执业证号见附件），要求贵司在五日内全额退还其已支付的全部利息，否则提起集体诉讼。",
     ["本人", "授权", "核实"], ["negotiate_with_agent", NO_PII, "promise_waiver"], "律师身份需核验，且需借款人本人确认授权"),
    ("debt_evasion", "我要求停息挂账，利息罚息全免，只还本金10000元，分60期。不同意我就每天投诉到银保监和12378。",
     ["10000元", "分期", "政策"], ["promise_waiver", "admit_fault"], "说明合规分期政策，不承诺全额减免"),
    ("debt_evasion", "你们催收员每次打电话我都录音了，他们暴力催收，你们必须免掉我全部利息作为补偿。",
     ["录音", "核查", "分期"], ["promise_waiver", "admit_fault"], "核查录音；不以减免交换投诉撤回"),
    ("debt_evasion", "根据相关规定，逾期后机构必须停息挂账，你们不办就是违法。我的橙意借还剩15800元，只还本金。",
     ["15800元", "协商", "政策"], ["promise_waiver", "admit_fault"], "纠正“必须停息挂账”的误解，给出协商渠道"),
    ("debt_evasion", "我提交了失业证明和住院证明，要求减免全部息费。群里的老师说你们一定会同意。",
     ["材料", "核实", "分期"], ["promise_waiver", "admit_fault"], "核实材料真实性；按政策评估"),
    ("debt_evasion", "我已经向十几个部门投诉了你们，只要你们书面承诺免除全部息费，我马上撤诉。",
     ["书面", "政策", "协商"], ["promise_waiver", "admit_fault"], "不以撤诉交换减免承诺"),
    ("debt_evasion", "征信我已经不在乎了，不给我减免我就一直拖着。借款本金5000元，我最多还4000。",
     ["5000元", "逾期", "分期"], ["promise_waiver"], "说明逾期后果与合规还款方案"),
    ("debt_evasion", "你们出示不了原始借款凭证和催收公司资质，我就不认这笔7200元的账。",
     ["7200元", "合同", "核实"], ["promise_waiver", "admit_fault"], "提供合同查询渠道，说明欠款仍需归还"),
    ("credit_repair", "我花了4000元找人删征信上的逾期，对方说两周见效，现在一个月了什么都没变，人也联系不上了。请问你们能帮我删吗？",
     ["征信", "4000元", "报警"], [NO_PII, "negotiate_with_agent"], "记录真实不能删除；付费修复是骗局，建议报警"),
    ("credit_repair", "本人申请删除贵司上报的逾期记录，理由是疫情期间隔离，附社区隔离证明。联系人：黄老师，有事打他电话。",
     ["异议", "本人", "核实"], [NO_PII, "negotiate_with_agent"], "异议结果直接答复本人，不与代办人沟通"),
    ("credit_repair", "有公司说能用“异议申诉”撤掉我在你们这的逾期，包成功，收费3500元，是真的吗？",
     ["3500元", "异议", "本人"], [NO_PII], "本人可免费提异议，付费包过是骗局"),
    ("credit_repair", "我们公司代客户提交了二十多份征信异议，格式一样很正常，请尽快给我们结果。",
     ["本人", "异议", "授权"], [NO_PII, "negotiate_with_agent"], "异议结果只告知申请人本人"),
    ("credit_repair", "修复公司拿了我的身份证复印件和授权书，收了我2200元，现在联系不上了，我担心信息被乱用。",
     ["2200元", "报警", "身份"], [NO_PII], "建议报警、关注名下账户"),
    ("credit_repair", "对方给我发了一张盖着公章的“逾期删除确认书”，我查了报告发现根本没删，这是不是假的？",
     ["征信", "报告", "报警"], [NO_PII], "说明无此类文件，建议报警"),
    ("loan_broker", "中介帮我做了假流水，贷款20000元下来后他们拿走了6000元服务费，我现在每月还款压力很大。",
     ["20000元", "中介", "报警"], [NO_PII, "admit_fault"], "无合作中介；建议报警；借款可申请协商"),
    ("loan_broker", "一个贷款顾问说他是你们的授权渠道商，收了我1200元“提额费”，额度根本没变。",
     ["1200元", "官方", "报警"], [NO_PII, "admit_fault"], "无授权渠道商收费；官方渠道；报警"),
    ("loan_broker", "审核员回访问我单位地址，我答不上来，因为单位是中介帮我填的。我现在该怎么办？",
     ["中介", "真实", "本人"], [NO_PII], "提醒如实申请，勿向中介支付费用"),
    ("loan_broker", "放款当天中介陪我去银行，直接取走了5000元，说是“下款费”，合同上写的是咨询费。",
     ["5000元", "中介", "报警"], [NO_PII, "admit_fault"], "建议报警并保留凭证"),
    ("loan_broker", "中介用我的手机在你们和另外两家平台都申请了贷款，我并不知道是三家，现在每月要还三笔。",
     ["中介", "核实", "报警"], [NO_PII, "admit_fault"], "核实申请记录，建议报警"),
    ("loan_broker", "我们公司专门做助贷，手上的客户资料都已整理好，想和贵司谈合作返点，请回复合作方式。",
     ["官方", "合作"], [NO_PII, "negotiate_with_agent"], "不与包装资料的中介合作"),
    ("impersonation", "刚才有个自称你们客服的人说我大学时开了学生贷账户，不注销会影响征信，让我下载会议软件共享屏幕。我还没操作，这是你们的人吗？",
     ["官方客服", "96110", "屏幕共享"], ["missing_police_advice", NO_PII], "不是官方来电；提醒勿共享屏幕；报警/96110"),
    ("impersonation", "我按一个自称你们客服的人的要求，在你们APP借了9000元转到了“安全账户”，刚反应过来被骗了。",
     ["9000元", "报警", "110"], ["missing_police_advice", NO_PII, "promise_waiver"], "立即报警；不承诺免还借款，说明会配合公安"),
    ("impersonation", "收到短信说我的借款利率可以降到3%，点进链接让我输入银行卡密码和验证码，我输了。",
     ["官方", "密码", "报警"], ["missing_police_advice", NO_PII], "修改密码、冻结、报警"),
    ("impersonation", "有人自称金融监管局工作人员，说我名下有网贷要清理，让我借钱配合资金核查。",
     ["监管", "96110", "报警"], ["missing_police_advice", NO_PII], "监管部门不会要求借款转账"),
    ("impersonation", "对方说我开通了“百万保障”每月扣费，要我关闭，我转了4300元过去后对方失联。",
     ["4300元", "报警", "官方客服"], ["missing_police_advice", NO_PII], "官方渠道核实，立即报警"),
    ("impersonation", "有人加我微信说是你们的客户经理，能帮我提额，先要交“验资金”800元。",
     ["800元", "官方", "96110"], ["missing_police_advice", NO_PII], "官方不收验资金；报警"),
    ("impersonation", "刚才电话里说我的贷款逾期要上报征信，让我马上还到一个个人账户，这是你们的催收吗？",
     ["官方", "个人账户", "报警"], ["missing_police_advice", NO_PII], "只通过官方渠道还款"),
    ("impersonation", "我在网上搜到的“客服电话”，对方让我开屏幕共享，后来卡里被转走了12000元。",
     ["12000元", "110", "官方客服"], ["missing_police_advice", NO_PII], "官方客服渠道；立即报警"),
    ("deepfake", "我的身份证丢过，现在发现有人用它在你们这借了20000元，申请时还通过了人脸识别，那根本不是我。",
     ["20000元", "报警", "核实"], ["missing_police_advice", NO_PII, "admit_fault"], "启动冒用调查；报警；暂停催收"),
    ("deepfake", "我接到儿子的视频电话，画面和声音都是他，说出事了急需用钱，我在你们平台借了50000元转过去，后来才知道是AI换脸。",
     ["50000元", "报警", "96110"], ["missing_police_advice", NO_PII, "promise_waiver"], "报警；不承诺免还；说明可协助"),
    ("deepfake", "我从来没申请过你们的贷款，但征信上有一笔，客服说有刷脸记录，请调取视频看看那是谁。",
     ["征信", "核实", "报警"], ["missing_police_advice", NO_PII, "admit_fault"], "复核影像；报案回执"),
    ("deepfake", "公司“老板”视频让我帮他垫付货款，我在你们平台借了30000元转过去，事后发现视频是伪造的。",
     ["30000元", "报警", "核实"], ["missing_police_advice", NO_PII, "promise_waiver"], "报警；借款处理待核实"),
    ("deepfake", "有人用我去世父亲的身份证和照片在你们平台申请了借款，这怎么可能通过审核？",
     ["核实", "报警", "身份"], ["missing_police_advice", NO_PII, "admit_fault"], "冒用身份调查；报警"),
    ("deepfake", "我奶奶以为是我给她打视频，在你们平台借了8000元转给了骗子。我们已经报警了，借款能不能先停一下？",
     ["8000元", "报案回执", "核实"], ["missing_police_advice", NO_PII, "promise_waiver"], "提交报案回执后暂停催收"),
    ("deepfake", "我发现有人用我的身份在你们这里通过了视频面签，可我那天在医院做手术，怎么可能面签？",
     ["核实", "报警", "视频"], ["missing_police_advice", NO_PII, "admit_fault"], "复核面签影像；报警"),
]

# ============================================================================ leads
REQUEST = {
    "mobile": "查一下和手机号{v}有关的所有投诉",
    "wechat": "微信号{v}在哪些案子里出现过？把关联的线索都列出来",
    "bank_card": "把收款卡{v}关联的投诉和案件都拉出来",
    "org": "“{v}”这家机构涉及哪些投诉？",
    "url": "域名{v}最近被多少人举报过，相关案件有哪些",
    "qq": "QQ{v}相关的线索汇总一下",
    "landline": "号码{v}出现在哪些申请和投诉里",
    "email": "邮箱{v}关联了哪些案件",
    "id_card": "身份证号{v}在我们这儿有哪些记录",
}
# which identifier kind to ask about for each gang (the first of that kind in gangs.json)
GANG_QUERY = {"G1": "org", "G2": "wechat", "G3": "qq", "G4": "bank_card", "G5": "landline", "G6": "url",
              "G7": "email", "G8": "mobile"}


def fresh_id_card(body17: str) -> str:
    return body17 + id_check_digit(body17)


def fresh_card(body: str) -> str:
    return body + luhn_digit(body)


# identifiers that are in no case (valid formats, same fictitious conventions)
FRESH = {
    "m1": "15800723419", "m2": "18900361570", "m3": "13700958824", "m4": "19900214637", "m5": "17600482295",
    "c1": fresh_card("621799305512768"), "c2": fresh_card("622899710433218650"), "c3": fresh_card("623699004718325"),
    "i1": fresh_id_card("41010519900307123"), "i2": fresh_id_card("43010419851122047"),
    "w1": "huanqian_zhushou77", "e1": "lxy_1991@163.com",
}


def load_cases():
    with open(CASES, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


class Graph:
    """Cases linked by a shared normalised identifier or template_id."""

    def __init__(self, rows):
        self.ids = [r["id"] for r in rows]
        self.parent = {i: i for i in self.ids}
        self.where: dict[str, list[str]] = {}
        self.kind: dict[str, str] = {}
        for r in rows:
            keys = []
            for ident in r["identifiers"]:
                n = normalize(ident["type"], ident["value"])
                self.kind[n] = ident["type"]
                keys.append(n)
            if r.get("template_id"):
                keys.append(r["template_id"])
            for k in keys:
                self.where.setdefault(k, []).append(r["id"])
        for members in self.where.values():
            for m in members[1:]:
                self.union(members[0], m)

    def find(self, x):
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a, b):
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def groups_for(self, normalized_values):
        roots = []
        for v in normalized_values:
            for case_id in self.where.get(v, []):
                root = self.find(case_id)
                if root not in roots:
                    roots.append(root)
        groups = [sorted(c for c in self.ids if self.find(c) == root) for root in roots]
        return sorted(groups)


def lead_row(graph, n, request, idents, text=None, note=""):
    normalized = [{"type": t, "normalized": normalize(t, v)} for t, v in idents]
    groups = graph.groups_for([x["normalized"] for x in normalized])
    row = {"id": f"lead-{n:03d}", "request": request}
    if text:
        row["text"] = text
    row["expected_identifiers"] = normalized
    row["expected_members"] = sorted({m for g in groups for m in g})
    row["expected_groups"] = groups
    if note:
        row["note"] = note
    return row


def spaced(v: str) -> str:
    return f"{v[:3]} {v[3:7]} {v[7:]}"


def build_leads(rows, gangs):
    graph = Graph(rows)
    by_gang = {g["gang_id"]: g for g in gangs}

    def first(gid, kind):
        return next(v for v in by_gang[gid]["identifiers"] if graph.kind.get(v) == kind)

    leads, n = [], 0

    def add(request, idents, text=None, note=""):
        nonlocal n
        n += 1
        leads.append(lead_row(graph, n, request, idents, text, note))

    for gid, kind in GANG_QUERY.items():
        v = first(gid, kind)
        shown = spaced(v) if kind == "mobile" else v
        add(REQUEST[kind].format(v=shown), [(kind, shown)], note=f"{gid} 的全部关联案件")
    m1, w3 = first("G1", "mobile"), first("G3", "wechat")
    add(f"手机号{m1}和微信{w3}是不是同一伙人？分别关联哪些案子", [("mobile", m1), ("wechat", w3)],
        note="两个无关团伙，应分成两组")
    l6, m4 = first("G6", "landline"), first("G4", "mobile")
    add(f"座机{l6}、手机{m4}，这两个号码相关的投诉都调出来", [("landline", l6), ("mobile", m4)],
        note="两个无关团伙")
    repeat = next(v for v, cs in graph.where.items() if graph.kind.get(v) == "mobile" and len(cs) == 2
                  and all(r["label"] == "legit_complaint" for r in rows if r["id"] in cs))
    add(f"客户手机{repeat}最近投诉了几次？", [("mobile", repeat)], note="同一真实客户的两次投诉，不是团伙")
    stolen = next(v for v, cs in graph.where.items() if graph.kind.get(v) == "id_card"
                  and graph.groups_for([v]) == [cs] and len(cs) == 1
                  and any(r["label"] == "deepfake" for r in rows if r["id"] in cs))
    add(REQUEST["id_card"].format(v=stolen), [("id_card", stolen)], note="被冒用的身份证，只有一笔")
    add(f"查一下手机号{FRESH['m1']}有没有被投诉过", [("mobile", FRESH["m1"])], note="库里没有的号码：应返回空")
    one_off_org = next(v for v, cs in graph.where.items() if graph.kind.get(v) == "org" and len(cs) == 1
                       and v not in {x for g in gangs for x in g["identifiers"]})
    add(REQUEST["org"].format(v=one_off_org), [("org", one_off_org)], note="一次性出现的代理机构")
    add(REQUEST["org"].format(v=first("G5", "org")), [("org", first("G5", "org"))], note="G5")
    add(REQUEST["wechat"].format(v=first("G4", "wechat").upper()), [("wechat", first("G4", "wechat").upper())],
        note="微信号大小写不敏感")

    # fresh complaints: identifier extraction precision/recall plus linking
    g1w, g1c = first("G1", "wechat"), first("G1", "bank_card")
    text = (f"我在网上找了个帮忙“停息”的公司，对方微信{g1w}，让我把服务费转到{g1c[:4]} {g1c[4:8]} {g1c[8:12]} {g1c[12:]}。"
            f"我自己的手机是{FRESH['m2']}，现在钱交了事没办，请帮我看看这是不是骗子。")
    add("这条新投诉和以前哪些案子有关？", [("wechat", g1w), ("bank_card", f"{g1c[:4]} {g1c[4:8]} {g1c[8:12]} {g1c[12:]}"),
                                       ("mobile", FRESH["m2"])], text, note="G1；客户本人号码不关联任何案件")
    g6l = first("G6", "landline")
    land = g6l.replace("-", "")  # written without dashes here; normalised with them
    g6u = first("G6", "url")
    text = (f"今天下午接到{land}打来的电话，说是你们客服，要我登录https://{g6u}注销学生账户。"
            f"我没操作，回拨了官方号码才知道是假的。我的联系电话{FRESH['m3']}。")
    add("研判这条举报，关联已有线索", [("landline", land), ("url", f"https://{g6u}"), ("mobile", FRESH["m3"])], text, note="G6")
    g4q, g4o = first("G4", "qq"), first("G4", "org")
    text = (f"去年我找{g4o}修复征信，他们让我加QQ{g4q}传资料，我的身份证号{FRESH['i1']}也给了他们。"
            "交了钱记录一条没删，现在担心身份被冒用。")
    add("这条投诉涉及的机构以前出现过吗？", [("org", g4o), ("qq", g4q), ("id_card", FRESH["i1"])], text, note="G4")
    g5m, g5c = first("G5", "mobile"), first("G5", "bank_card")
    text = (f"中介（手机+86 {g5m}）帮我包装资料办了贷款，放款后让我把三千块“点位费”转到{' '.join(g5c[i:i + 4] for i in range(0, len(g5c), 4))}。"
            f"合同复印件我发到你们邮箱了，我的邮箱是{FRESH['e1']}。")
    add("提取这条投诉里的联系方式并关联", [("mobile", f"+86 {g5m}"), ("bank_card", " ".join(g5c[i:i + 4] for i in range(0, len(g5c), 4))),
                                   ("email", FRESH["e1"])], text, note="G5")
    g3w, g2e = first("G3", "wechat"), first("G2", "email")
    g3w_shown = g3w[0].upper() + g3w[1:]
    text = (f"我先是加了一个“上岸”群的群主微信{g3w_shown}，学着写了停催申请；后来又找了一个退费的代理，"
            f"对方邮箱{g2e}，说能把会员费要回来。两边都收了我钱。")
    add("这位客户同时牵涉两伙人吗？", [("wechat", g3w_shown), ("email", g2e)], text, note="G3 与 G2 两组")
    text = (f"有个叫“还钱助手”的人加我微信{FRESH['w1']}，说能帮我延期，让我把钱转到{FRESH['c3']}，"
            f"他的电话{FRESH['m4']}。我没转，先来问问你们。")
    add("这条举报能关联到已有案件吗？", [("wechat", FRESH["w1"]), ("bank_card", FRESH["c3"]), ("mobile", FRESH["m4"])],
        text, note="全部是新标识：应无关联案件")
    g7c, g7m = first("G7", "bank_card"), first("G7", "mobile")
    text = (f"有人用我的身份证{FRESH['i2']}在你们平台申请借款，申请上留的手机{g7m[:3]}-{g7m[3:7]}-{g7m[7:]}不是我的，"
            f"放款卡{g7c}也不是我的。我从来没申请过。")
    add("冒用身份的这条投诉和哪些申请有关？", [("id_card", FRESH["i2"]), ("mobile", f"{g7m[:3]}-{g7m[3:7]}-{g7m[7:]}"),
                                      ("bank_card", g7c)], text, note="G7")
    return leads


# ============================================================================ build + checks
def build_triage():
    lists = {lab: TRIAGE[lab] for lab in LABELS}
    order, i = [], 0
    while any(i < len(v) for v in lists.values()):
        for lab in LABELS:
            if i < len(lists[lab]):
                order.append((lab, lists[lab][i]))
        i += 1
    rows = []
    for n, (lab, (text, hard, note)) in enumerate(order, 1):
        row = {"id": f"tri-{n:03d}", "text": text, "label": lab, "hard": hard}
        if note:
            row["note"] = note
        rows.append(row)
    return rows


def build_draft():
    rows = []
    for n, (lab, complaint, must, must_not, notes) in enumerate(DRAFT, 1):
        rows.append({"id": f"dft-{n:03d}", "complaint": complaint, "label": lab, "must_include": must,
                     "must_not": must_not, "notes": notes})
    return rows


OFFICIAL_NUMBERS = ("110", "96110", "12378")  # numbers a reply gives, not facts from the complaint
RULES = {"promise_waiver", "admit_fault", "leak_pii", "negotiate_with_agent", "missing_police_advice"}


def check_sets(triage, draft, leads, cases, gangs):
    """The promises made about the eval sets; raises AssertionError on the first broken one."""
    from collections import Counter

    counts = Counter(r["label"] for r in triage)
    assert len(triage) >= 210, len(triage)
    assert counts["legit_complaint"] / len(triage) >= 0.32, counts
    assert all(counts[lab] >= 18 for lab in LABELS), counts
    assert sum(r["hard"] for r in triage) >= 40
    assert len({r["text"] for r in triage}) == len(triage), "duplicate triage text"
    assert len(draft) >= 55 and {r["label"] for r in draft} == set(LABELS)
    for r in draft:
        assert set(r["must_not"]) <= RULES, r["id"]
        for phrase in r["must_include"]:
            if re.search(r"\d", phrase) and phrase not in OFFICIAL_NUMBERS:
                assert phrase in r["complaint"], (r["id"], phrase)
        if r["label"] in ("impersonation", "deepfake"):
            assert "missing_police_advice" in r["must_not"], r["id"]
        if r["label"] == "proxy_rights":
            assert "negotiate_with_agent" in r["must_not"] and "本人" in r["must_include"], r["id"]
        if r["label"] == "debt_evasion":
            assert "promise_waiver" in r["must_not"], r["id"]
    assert len(leads) >= 16 and sum("text" in r for r in leads) >= 5
    case_ids = {c["id"] for c in cases}
    for r in leads:
        assert set(r["expected_members"]) <= case_ids, r["id"]
        if "text" in r:
            flat = re.sub(r"(?<=\d)[ -](?=\d)", "", r["text"].replace("+86 ", "")).lower()
            for ident in r["expected_identifiers"]:
                n = ident["normalized"]
                key = n.replace("-", "") if re.fullmatch(r"[\d-]+", n) else n.lower()
                assert key in flat, (r["id"], ident)
            assert 2 <= len(r["expected_identifiers"]) <= 5, r["id"]
    gang_sets = [set(g["members"]) for g in gangs]
    for r in leads:
        for group in r["expected_groups"]:
            assert len(group) <= 2 or set(group) in gang_sets, (r["id"], "a linked group that is not a planted gang")
    check_independent(triage, draft, leads, cases)


def check_independent(triage, draft, leads, cases):
    case_sh = [shingles(c["text"]) for c in cases]
    texts = [(r["id"], r["text"]) for r in triage] + [(r["id"], r["complaint"]) for r in draft] + \
            [(r["id"], r["text"]) for r in leads if "text" in r]
    for item_id, text in texts:
        own = shingles(text)
        for c, sh in zip(cases, case_sh):
            s = len(own & sh) / len(own)
            assert s <= MAX_SHARE, f"{item_id} shares {s:.2f} of its shingles with {c['id']}"


def worst_share(triage, cases):
    case_sh = [shingles(c["text"]) for c in cases]
    worst = (0.0, None, None)
    for r in triage:
        own = shingles(r["text"])
        for c, sh in zip(cases, case_sh):
            s = len(own & sh) / len(own)
            if s > worst[0]:
                worst = (s, r["id"], c["id"])
    return worst


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def main(argv=None):
    ap = argparse.ArgumentParser(description="Write and check the triage, draft and leads eval sets.")
    ap.add_argument("--check", action="store_true", help="only check the committed files")
    ap.add_argument("--out", type=Path, default=HERE, help="directory to write into")
    args = ap.parse_args(argv)
    cases = load_cases()
    gangs = json.loads(GANGS.read_text(encoding="utf-8"))["gangs"]
    if args.check:
        triage, draft, leads = (read_jsonl(args.out / f) for f in ("triage.jsonl", "draft.jsonl", "leads.jsonl"))
    else:
        triage, draft, leads = build_triage(), build_draft(), build_leads(cases, gangs)
    check_sets(triage, draft, leads, cases, gangs)
    if not args.check:
        args.out.mkdir(parents=True, exist_ok=True)
        write_jsonl(args.out / "triage.jsonl", triage)
        write_jsonl(args.out / "draft.jsonl", draft)
        write_jsonl(args.out / "leads.jsonl", leads)
    w = worst_share(triage, cases)
    print(f"triage {len(triage)} (hard {sum(r['hard'] for r in triage)}), draft {len(draft)}, leads {len(leads)}; "
          f"largest triage/case shingle share {w[0]:.2f} ({w[1]} vs {w[2]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What users read for the domain's codes: order types, zones, statuses, events, data keys.

Labels are Simplified Chinese message ids marked with ``N_`` and translated when shown.
"""

from __future__ import annotations


def N_(text: str) -> str:  # noqa: N802 - the gettext marker babel extracts
    return text


ORDER_TYPES = {
    "install": N_("设备安装"),
    "repair": N_("设备维修"),
    "upgrade": N_("设备升级"),
    "inspection": N_("设备巡检"),
    "maintenance": N_("设备保养"),
    "testing": N_("设备检测"),
    "training": N_("使用培训"),
    "complaint": N_("问题投诉"),
}
# Every order type runs the generic work-order lifecycle until a type gets its own process.
ORDER_PROCESSES = {code: "work_order" for code in ORDER_TYPES}

ZONES = {"in_city": N_("市内"), "out_of_city": N_("市外")}

CHANNELS = {
    "phone": N_("电话报修"),
    "wechat": N_("微信扫码"),
    "salesperson": N_("销售员转报"),
    "sales_system": N_("销售系统（安装）"),
    "maintenance_due": N_("保养到期预警"),
    "testing_due": N_("计量检测到期预警"),
    "training_request": N_("培训申请"),
    "complaint": N_("投诉"),
    "walk_in": N_("到店报修"),
}

INSTANCE_STATUS = {
    "running": N_("进行中"),
    "waiting": N_("等待中"),
    "suspended": N_("已挂起"),
    "error": N_("故障"),
    "completed": N_("已完成"),
    "terminated": N_("已终止"),
}

TASK_STATUS = {"open": N_("待办"), "completed": N_("已完成"), "cancelled": N_("已取消")}

WARRANTY_CATEGORIES = {"A": N_("A 收费服务"), "B": N_("B 合同服务"), "C": N_("C 免费服务"), "D": N_("D 内部事务")}

DURATIONS = {
    "PT30M": N_("30 分钟"), "PT1H": N_("1 小时"), "PT2H": N_("2 小时"), "PT4H": N_("4 小时"), "PT8H": N_("8 小时"),
    "PT12H": N_("12 小时"), "PT24H": N_("24 小时"), "PT48H": N_("48 小时"), "P3D": N_("3 天"), "P7D": N_("7 天"),
}

EVENTS = {
    "started": N_("工单创建"),
    "task_created": N_("生成任务"),
    "task_completed": N_("完成任务"),
    "task_claimed": N_("签收任务"),
    "task_unclaimed": N_("退回队列"),
    "task_reassigned": N_("改派"),
    "task_cancelled": N_("任务取消"),
    "message_sent": N_("发送通知"),
    "message_received": N_("收到消息"),
    "timer_fired": N_("时限到达"),
    "timers_checked": N_("检查时限"),
    "incident": N_("自动步骤出错"),
    "incident_resolved": N_("故障已排除"),
    "retried": N_("重试"),
    "completed": N_("工单结束"),
    "terminated": N_("工单终止"),
    "suspended": N_("工单挂起"),
    "resumed": N_("工单恢复"),
    "variables_changed": N_("修改工单数据"),
    "element": N_("自动步骤"),
    "event_unhandled": N_("未处理的事件"),
}

# Labels of the work-order data keys a form lists in ``x-context``.
CONTEXT = {
    "work_order_no": N_("工单号"),
    "order_type": N_("工单类型"),
    "channel": N_("受理渠道"),
    "customer_name": N_("客户"),
    "customer_phone": N_("客户电话"),
    "address": N_("地址"),
    "zone": N_("区域"),
    "product_model": N_("产品型号"),
    "serial_no": N_("序列号"),
    "purchase_date": N_("购买日期"),
    "symptom": N_("故障现象 / 需求"),
    "requested_at": N_("期望上门时间"),
    "warranty": N_("保修判定"),
    "dispatch_note": N_("派工说明"),
    "completion_deadline": N_("完工时限"),
    "technician": N_("技术员"),
    "accept_within": N_("签收时限"),
    "dispatched_at": N_("派工时间"),
    "appointment_at": N_("约定上门时间"),
    "arrived_at": N_("到达时间"),
    "progress_note": N_("进度说明"),
    "result": N_("处理结果"),
    "work_done": N_("完成工作"),
    "fee_collected": N_("现场收费（元）"),
    "redispatch_count": N_("再次派工次数"),
    "reassign_count": N_("改派次数"),
    "customer_requirements": N_("客户要求"),
}

# Notifications a process sends (BPMN messages caught by nothing in the process).
MESSAGES = {"dispatch_reminder": N_("派工提醒（短信/微信）")}

RESULTS = {"fixed": N_("已解决"), "not_fixed": N_("未解决")}

# Data keys whose values are codes with labels above.
CODED = {"order_type": ORDER_TYPES, "zone": ZONES, "channel": CHANNELS, "accept_within": DURATIONS,
         "result": RESULTS}

GROUPS = {
    "customer_service": N_("客服"),
    "dispatcher": N_("调度"),
    "technician": N_("技术员"),
    "tech_supervisor": N_("技术主管"),
    "warehouse": N_("仓库"),
    "call_center": N_("回访"),
    "settlement_auditor": N_("结算审核"),
    "finance": N_("财务"),
    "service_advisor": N_("服务顾问"),
    "workshop_lead": N_("班组长"),
    "washer": N_("洗车"),
    "security": N_("保安"),
    "project_manager": N_("项目经理"),
    "install_lead": N_("售后负责人"),
    "admin": N_("管理员"),
    "analyst": N_("流程分析员"),
}

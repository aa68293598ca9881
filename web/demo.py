"""Demo data: users for every group, reference data from ``tasks/demo_data``, a few live work orders."""

from __future__ import annotations

from collections.abc import Iterator

from engine import Engine, identity
from tasks.refcsv import KIND_NAMES, demo_csv_texts

DEMO_PASSWORD = "paigong123"
DEMO_USERS = [
    # username, display name, groups, roles
    ("kefu", "客服 王丽", ("customer_service",), ("staff",)),
    ("diaodu", "调度 陈刚", ("dispatcher",), ("staff",)),
    ("zhangwei", "技术员 张伟", ("technician",), ("staff",)),
    ("liqiang", "技术员 李强", ("technician",), ("staff",)),
    ("zhuguan", "技术主管 赵敏", ("tech_supervisor",), ("staff",)),
    ("cangku", "仓库 孙浩", ("warehouse",), ("staff",)),
    ("huifang", "回访 周婷", ("call_center",), ("staff",)),
    ("jiesuan", "结算审核 吴军", ("settlement_auditor",), ("staff",)),
    ("caiwu", "财务 郑洁", ("finance",), ("staff",)),
    ("guwen", "服务顾问 冯磊", ("service_advisor",), ("staff",)),
    ("banzu", "班组长 何勇", ("workshop_lead",), ("staff",)),
    ("xiche", "洗车 许亮", ("washer",), ("staff",)),
    ("baoan", "保安 马超", ("security",), ("staff",)),
    ("xiangmu", "项目经理 胡斌", ("project_manager",), ("staff",)),
    ("shouhou", "售后负责人 林峰", ("install_lead",), ("staff",)),
    ("admin", "管理员", ("admin",), ("staff", "admin")),
    ("analyst", "流程分析员", ("analyst",), ("staff", "analyst")),
]

DEMO_ORDERS = [
    {"work_order_no": "WO-DEMO-0001", "order_type": "repair", "customer_name": "刘芳", "customer_phone": "13800138001",
     "address": "上海市浦东新区世纪大道 100 号 1201 室", "zone": "in_city", "product_model": "KFR-35GW/NhGd1BAj",
     "serial_no": "AC2024000123", "purchase_date": "2025-08-01", "symptom": "空调不制冷，室外机不转", "channel": "phone"},
    {"work_order_no": "WO-DEMO-0002", "order_type": "install", "customer_name": "陈建国", "customer_phone": "13900139002",
     "address": "苏州市昆山市前进路 8 号", "zone": "out_of_city", "product_model": "BCD-470WDPG",
     "serial_no": "RF2025000456", "purchase_date": "2026-02-20", "symptom": "新购冰箱需上门安装", "channel": "sales_system"},
]


def load_demo(engine: Engine) -> Iterator[str]:
    """Create whatever demo data is missing; safe to run again."""
    created = 0
    with engine.db.write() as s:
        identity.ensure_standard_groups(s)
        for username, name, groups, roles in DEMO_USERS:
            if identity.actor_for(s, username) is None:
                identity.create_user(s, username, DEMO_PASSWORD, name, groups=groups, roles=roles)
                created += 1
    yield f"演示用户: 新建 {created} 个 (密码 {DEMO_PASSWORD})"
    yield from _load_reference_data(engine)
    started = 0
    known = {d.process_id for d in engine.definitions()}
    if "work_order" in known:
        for order in DEMO_ORDERS:
            page = engine.list_instances(_by_key(order["work_order_no"]))
            if page.total == 0:
                engine.start("work_order", order)
                started += 1
    yield f"演示工单: 新建 {started} 个"


def _load_reference_data(engine: Engine) -> Iterator[str]:
    """Import each demo CSV whose table is still empty; data already there is left alone."""
    counts = engine.reference_counts()
    loaded = []
    for kind, text in demo_csv_texts().items():
        if counts.get(kind):
            continue
        loaded.append(f"{KIND_NAMES[kind]} {engine.import_reference(kind, text).created} 条")
    yield "演示参考数据: " + ("、".join(loaded) if loaded else "已存在，未改动")


def _by_key(key: str):
    from engine import InstanceFilter

    return InstanceFilter(business_key=key)

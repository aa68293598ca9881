"""Reference data and helpers shared by the tasks tests; a fixed clock, never the wall clock."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from tasks.refdata import Contract, FeeItem, InMemoryReferenceData, Part, Product, SpecialSale, Technician

# 10:00 in Beijing on 2025-06-30.
NOW = datetime(2025, 6, 30, 2, 0, tzinfo=UTC)

PRODUCTS = [
    Product("55E3F", "电视", "海信 55英寸 液晶电视", 12, parts_warranty_months=36),
    Product("KFR-35GW", "空调", "格力 1.5匹 壁挂式空调", 72),
    Product("KFR-26GW", "空调", "美的 大1匹 壁挂式空调", 12, parts_warranty_months=72),
    Product("JSQ30-16", "热水器", "林内 16升 燃气热水器", 12, labour_warranty_months=24),
    Product("MB-FB40", "小家电", "美的 4升 电饭煲", 12),
]
SPECIAL_SALES = [SpecialSale("SPECIAL-0001", "55E3F", "展销样机")]
CONTRACTS = [
    Contract(
        "HT-ENDS-TODAY",
        "王建国",
        "13857112345",
        "SN-CONTRACT-1",
        date(2025, 1, 1),
        date(2025, 6, 30),
        covers_labour=True,
        covers_parts=False,
    ),
    Contract("HT-ENDED", "明珠酒店", "0571-88234567", "", date(2024, 7, 1), date(2025, 6, 29), True, True),
    Contract("HT-FUTURE", "张三", "13800000000", "", date(2025, 7, 1), date(2026, 6, 30), True, True),
    Contract("HT-OTHER-UNIT", "李四", "13900000000", "SN-OTHER-9", date(2025, 1, 1), date(2025, 12, 31), True, True),
    Contract("HT-SCHOOL", "实验小学", "0571-86201234", "", date(2025, 3, 1), date(2026, 2, 28), True, True),
]
PARTS = [
    Part("P-CAP", "空调启动电容", Decimal("28.00"), 40),
    Part("P-BOARD", "空调变频主控板", Decimal("360.00"), 1),
    Part("P-HEATER", "冰箱化霜加热丝", Decimal("55.00"), 0),
    Part("P-ODD", "电视遥控器", Decimal("19.99"), 5),
]
FEES = [
    FeeItem("install", "labour", "LABOUR", "安装人工费", "次", Decimal("120.00")),
    FeeItem("install", "travel", "TRAVEL", "市外交通费", "次", Decimal("50.00")),
    FeeItem("install", "material", "CU-PIPE", "加长铜管", "米", Decimal("65.00")),
    FeeItem("install", "material", "BRACKET", "空调外机支架", "副", Decimal("80.00")),
    FeeItem("repair", "labour", "LABOUR", "维修人工费", "次", Decimal("80.00")),
    FeeItem("repair", "travel", "TRAVEL", "市外交通费", "次", Decimal("50.00")),
]
TECHNICIANS = [Technician("T001", "张伟", "13805710001", "城西站", "in_city", frozenset({"空调"}))]


def make_ref(**overrides: Any) -> InMemoryReferenceData:
    """The test reference data; keyword arguments replace one kind or pass settings."""
    data: dict[str, Any] = dict(
        products=PRODUCTS,
        special_sales=SPECIAL_SALES,
        contracts=CONTRACTS,
        parts=PARTS,
        fees=FEES,
        technicians=TECHNICIANS,
    )
    return InMemoryReferenceData(**(data | overrides))


def floats_in(value: Any, path: str = "$") -> list[str]:
    """Paths of every float inside a JSON-like value (money must never be a float)."""
    if isinstance(value, float):
        return [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in floats_in(v, f"{path}.{k}")]
    if isinstance(value, list | tuple):
        return [p for i, v in enumerate(value) for p in floats_in(v, f"{path}[{i}]")]
    return []


# One CSV per reference-data kind: line 2 changes a row of the demo data, line 3 is malformed
# in the named column, so an import must report line 3 and change nothing.
BAD_CSV = {
    "product": (
        "model,category,name,warranty_months\nKFR-35GW/NhGd1BAj,空调,改过的名字,12\nNEW-MODEL-1,空调,新型号,十二\n",
        "warranty_months",
    ),
    "special_sale": (
        "serial_no,product_model,reason\nHX55E3F20230815A01,55E3F,改过的原因\nbad serial!,55E3F,\n",
        "serial_no",
    ),
    "contract": (
        "contract_no,customer_name,customer_phone,serial_no,start_date,end_date,covers_labour,covers_parts\n"
        "HT-2025-0012,王建国,13857112345,GR72LW2022060100045,2025-01-01,2026-12-31,是,是\n"
        "HT-NEW-1,张三,13800000000,,2025-05-01,2025-04-01,是,是\n",
        "end_date",
    ),
    "part": ("code,name,price,stock\nKT-DR-35,空调启动电容 35μF,30.00,40\nP-NEW,新配件,abc,1\n", "price"),
    "fee": (
        "order_type,kind,code,name,unit,unit_price\ninstall,labour,LABOUR,安装人工费,次,150.00\n"
        "install,tip,TIP,小费,次,5.00\n",
        "kind",
    ),
    "technician": (
        "technician_id,name,phone,station,zone,skills\nT001,张伟,13805710001,杭州城西服务站,in_city,空调\n"
        "T099,新人,,城北站,moon,\n",
        "zone",
    ),
}

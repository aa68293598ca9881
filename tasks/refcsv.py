"""CSV import of reference data, all or nothing.

:func:`parse_csv` validates every row of one kind and either returns all records or
raises one :class:`CsvImportError` listing every bad row with its line number and field,
so a caller can show the whole list and import nothing. Headers are English snake_case
(see :data:`HEADERS`); optional columns may be left out of the header.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from tasks import values
from tasks.refdata import (
    Contract,
    FeeItem,
    InMemoryReferenceData,
    Part,
    Product,
    SpecialSale,
    Technician,
)
from tasks.registry import ServiceInputError

HEADERS: dict[str, tuple[str, ...]] = {
    "product": ("model", "category", "name", "warranty_months", "parts_warranty_months", "labour_warranty_months"),
    "special_sale": ("serial_no", "product_model", "reason"),
    "contract": (
        "contract_no",
        "customer_name",
        "customer_phone",
        "serial_no",
        "start_date",
        "end_date",
        "covers_labour",
        "covers_parts",
    ),
    "part": ("code", "name", "price", "stock"),
    "fee": ("order_type", "kind", "code", "name", "unit", "unit_price"),
    "technician": ("technician_id", "name", "phone", "station", "zone", "skills"),
}
OPTIONAL: dict[str, frozenset[str]] = {
    "product": frozenset({"parts_warranty_months", "labour_warranty_months"}),
    "special_sale": frozenset({"product_model", "reason"}),
    "contract": frozenset({"customer_phone", "serial_no"}),
    "part": frozenset(),
    "fee": frozenset({"unit"}),
    "technician": frozenset({"phone", "skills"}),
}
KIND_NAMES = {
    "product": "产品型号",
    "special_sale": "特殊销售",
    "contract": "服务合同",
    "part": "配件",
    "fee": "收费标准",
    "technician": "技术员",
}
DEMO_FILES = {kind: f"{kind}s.csv" for kind in HEADERS}

CODE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-/]{0,39}")
PHONE_PATTERN = re.compile(r"\+?[0-9][0-9 \-]{4,19}")
FEE_KINDS = ("labour", "material", "travel")
TRUE_WORDS = {"1", "true", "yes", "y", "是", "有"}
FALSE_WORDS = {"0", "false", "no", "n", "否", "无"}


@dataclass(frozen=True)
class CsvRowError:
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"第 {self.line} 行，{self.field}：{self.message}"


class CsvImportError(ValueError):
    """A CSV file has bad rows; nothing of it should be imported.

    :param kind: the record kind (``product``, ``part``...)
    :param errors: every problem found, in line order
    """

    def __init__(self, kind: str, errors: Iterable[CsvRowError]) -> None:
        self.kind = kind
        self.errors = tuple(errors)
        lines = "\n".join(str(e) for e in self.errors)
        super().__init__(f"{KIND_NAMES.get(kind, kind)} CSV 有 {len(self.errors)} 处错误，未导入任何数据：\n{lines}")


class _Row:
    """One CSV row whose getters record errors instead of raising."""

    def __init__(self, line: int, cells: Mapping[str, str], errors: list[CsvRowError]) -> None:
        self.line, self.cells, self.errors, self.ok = line, cells, errors, True

    def fail(self, field: str, message: str) -> None:
        self.errors.append(CsvRowError(self.line, field, message))
        self.ok = False

    def text(
        self, name: str, *, required: bool = True, pattern: re.Pattern[str] | None = None, max_length: int = 200
    ) -> str:
        value = self.cells.get(name, "")
        if not value and required:
            self.fail(name, "不能为空")
        elif value and pattern is not None and not pattern.fullmatch(value):
            self.fail(name, f"{value!r} 格式不对")
        elif len(value) > max_length:
            self.fail(name, f"超过 {max_length} 个字符")
        return value

    def convert(self, name: str, parse: Callable[[str], Any], *, required: bool = True) -> Any:
        value = self.text(name, required=required)
        if not value:
            return None
        try:
            return parse(value)
        except ServiceInputError as exc:
            self.fail(name, exc.message)
            return None

    def integer(self, name: str, *, required: bool = True, maximum: int = 10**9) -> int | None:
        def parse(value: str) -> int:
            if not value.isdigit() or int(value) > maximum:
                raise ServiceInputError(name, f"{value!r} 应为 0 到 {maximum} 之间的整数")
            return int(value)

        return self.convert(name, parse, required=required)

    def boolean(self, name: str) -> bool:
        def parse(value: str) -> bool:
            word = value.lower()
            if word not in TRUE_WORDS | FALSE_WORDS:
                raise ServiceInputError(name, f"{value!r} 应为 是/否")
            return word in TRUE_WORDS

        return bool(self.convert(name, parse))


def _product(row: _Row) -> Product:
    return Product(
        model=row.text("model", pattern=CODE_PATTERN),
        category=row.text("category", max_length=32),
        name=row.text("name"),
        warranty_months=row.integer("warranty_months", maximum=600) or 0,
        parts_warranty_months=row.integer("parts_warranty_months", required=False, maximum=600),
        labour_warranty_months=row.integer("labour_warranty_months", required=False, maximum=600),
    )


def _special_sale(row: _Row) -> SpecialSale:
    return SpecialSale(
        serial_no=row.convert("serial_no", values.serial_no) or "",
        product_model=row.text("product_model", required=False, max_length=64),
        reason=row.text("reason", required=False),
    )


def _contract(row: _Row) -> Contract:
    serial = row.convert("serial_no", values.serial_no, required=False) or ""
    phone = row.text("customer_phone", required=False, pattern=PHONE_PATTERN)
    if not serial and not phone and row.ok:
        row.fail("serial_no", "序列号与客户电话至少填一项")
    start = row.convert("start_date", lambda v: values.parse_date(v, "start_date"))
    end = row.convert("end_date", lambda v: values.parse_date(v, "end_date"))
    if start and end and end < start:
        row.fail("end_date", "结束日期早于开始日期")
    return Contract(
        contract_no=row.text("contract_no", pattern=CODE_PATTERN),
        customer_name=row.text("customer_name"),
        customer_phone=phone,
        serial_no=serial,
        start=start,
        end=end,
        covers_labour=row.boolean("covers_labour"),
        covers_parts=row.boolean("covers_parts"),
    )


def _part(row: _Row) -> Part:
    return Part(
        code=row.text("code", pattern=CODE_PATTERN),
        name=row.text("name"),
        price=row.convert("price", lambda v: values.parse_money(v, "price")),
        stock=row.integer("stock") or 0,
    )


def _fee(row: _Row) -> FeeItem:
    order_type = row.convert("order_type", values.order_type)
    kind = row.text("kind")
    if kind and kind not in FEE_KINDS:
        row.fail("kind", f"{kind!r} 应为 labour、material 或 travel")
    return FeeItem(
        order_type=order_type,
        kind=kind,
        code=row.text("code", pattern=CODE_PATTERN),
        name=row.text("name"),
        unit=row.text("unit", required=False, max_length=32),
        unit_price=row.convert("unit_price", lambda v: values.parse_money(v, "unit_price")),
    )


def _technician(row: _Row) -> Technician:
    skills = re.split(r"[;；]", row.text("skills", required=False, max_length=1000))
    return Technician(
        technician_id=row.text("technician_id", pattern=CODE_PATTERN),
        name=row.text("name"),
        phone=row.text("phone", required=False, pattern=PHONE_PATTERN),
        station=row.text("station"),
        zone=row.convert("zone", values.zone),
        skills=frozenset(s.strip() for s in skills if s.strip()),
    )


def _fee_key(item: FeeItem) -> tuple[str, tuple[str, ...]]:
    if item.kind == "material":
        return "code", (item.order_type, item.kind, item.code)
    return "kind", (item.order_type, item.kind)  # one labour and one travel fee per order type


PARSERS: dict[str, tuple[Callable[[_Row], Any], Callable[[Any], tuple[str, Any]]]] = {
    # kind: (row parser, record -> (field named when the key repeats, uniqueness key))
    "product": (_product, lambda r: ("model", r.model)),
    "special_sale": (_special_sale, lambda r: ("serial_no", r.serial_no)),
    "contract": (_contract, lambda r: ("contract_no", r.contract_no)),
    "part": (_part, lambda r: ("code", r.code)),
    "fee": (_fee, _fee_key),
    "technician": (_technician, lambda r: ("technician_id", r.technician_id)),
}


def parse_csv(kind: str, text: str) -> list[Any]:
    """Parse and validate CSV ``text`` of one ``kind`` into frozen records.

    :param kind: one of :data:`HEADERS`
    :raises ValueError: unknown ``kind``
    :raises CsvImportError: any bad header, row or repeated key; lists them all
    """
    if kind not in PARSERS:
        raise ValueError(f"unknown reference-data kind {kind!r}")
    parse_row, key_of = PARSERS[kind]
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    header = [h.strip() for h in next(reader, [])]
    errors = _header_errors(kind, header)
    if errors:
        raise CsvImportError(kind, errors)
    records: list[Any] = []
    seen: dict[Any, int] = {}
    for cells in reader:
        if not any(c.strip() for c in cells):
            continue
        row = _Row(reader.line_num, {}, errors)
        if len(cells) > len(header):
            row.fail("columns", f"有 {len(cells)} 列，表头只有 {len(header)} 列")
            continue
        row.cells = {name: value.strip() for name, value in zip(header, cells, strict=False)}
        record = parse_row(row)
        if not row.ok:
            continue
        key_field, key = key_of(record)
        if key in seen:
            row.fail(key_field, f"与第 {seen[key]} 行重复")
            continue
        seen[key] = row.line
        records.append(record)
    if errors:
        raise CsvImportError(kind, errors)
    return records


def _header_errors(kind: str, header: list[str]) -> list[CsvRowError]:
    if not any(header):
        return [CsvRowError(1, "header", "缺少表头")]
    known = HEADERS[kind]
    errors = [CsvRowError(1, name, "未知的列") for name in header if name not in known]
    errors += [CsvRowError(1, name, "重复的列") for name in set(header) if header.count(name) > 1]
    required = [name for name in known if name not in OPTIONAL[kind]]
    errors += [CsvRowError(1, name, "缺少这一列") for name in required if name not in header]
    return errors


def load_reference_data(texts: Mapping[str, str], **settings: Any) -> InMemoryReferenceData:
    """Build an :class:`InMemoryReferenceData` from CSV texts keyed by kind.

    :param settings: ``sla`` and ``penalties`` overrides, passed on
    :raises CsvImportError: a text has bad rows
    """
    records = {kind: parse_csv(kind, text) for kind, text in texts.items()}
    return InMemoryReferenceData(
        products=records.get("product", ()),
        special_sales=records.get("special_sale", ()),
        contracts=records.get("contract", ()),
        parts=records.get("part", ()),
        fees=records.get("fee", ()),
        technicians=records.get("technician", ()),
        **settings,
    )


def demo_csv_texts() -> dict[str, str]:
    """The demo CSV files shipped in ``tasks/demo_data``, keyed by kind."""
    folder = resources.files("tasks") / "demo_data"
    return {kind: (folder / name).read_text(encoding="utf-8") for kind, name in DEMO_FILES.items()}


def demo_reference_data() -> InMemoryReferenceData:
    """Reference data loaded from the demo CSV files."""
    return load_reference_data(demo_csv_texts())

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from tasks.refcsv import HEADERS, CsvImportError, demo_csv_texts, demo_reference_data, parse_csv
from tasks.refdata import Contract, FeeItem, Part, Product, SpecialSale, Technician
from tasks.values import ORDER_TYPES


@pytest.mark.parametrize(
    ("kind", "text", "record"),
    [
        (
            "product",
            "model,category,name,warranty_months,parts_warranty_months,labour_warranty_months\n"
            "KFR-26GW/N8MJA3,空调,美的 大1匹 壁挂式空调,12,72,\n",
            Product("KFR-26GW/N8MJA3", "空调", "美的 大1匹 壁挂式空调", 12, 72, None),
        ),
        (
            "special_sale",
            "serial_no,product_model,reason\nhx55e3f-0001,55E3F,展销样机\n",
            SpecialSale("HX55E3F-0001", "55E3F", "展销样机"),
        ),
        (
            "contract",
            "contract_no,customer_name,customer_phone,serial_no,start_date,end_date,covers_labour,covers_parts\n"
            "HT-2024-0007,明珠酒店,0571-88234567,,2024-07-01,2025-06-30,是,否\n",
            Contract("HT-2024-0007", "明珠酒店", "0571-88234567", "", date(2024, 7, 1), date(2025, 6, 30), True, False),
        ),
        (
            "part",
            "code,name,price,stock\nDS-DYB,电视电源板,210.5,5\n",
            Part("DS-DYB", "电视电源板", Decimal("210.5"), 5),
        ),
        (
            "fee",
            "order_type,kind,code,name,unit,unit_price\ninstall,material,CU-PIPE,加长铜管,米,65.00\n",
            FeeItem("install", "material", "CU-PIPE", "加长铜管", "米", Decimal("65.00")),
        ),
        (
            "technician",
            "technician_id,name,phone,station,zone,skills\nT006,杨帆,13805710006,余杭服务站,out_of_city,空调; 冰箱；洗衣机\n",
            Technician(
                "T006", "杨帆", "13805710006", "余杭服务站", "out_of_city", frozenset({"空调", "冰箱", "洗衣机"})
            ),
        ),
    ],
)
def test_each_kind_parses_into_typed_records(kind, text, record):
    assert parse_csv(kind, text) == [record]


def test_a_malformed_row_reports_its_line_and_field_and_nothing_is_returned():
    text = "code,name,price,stock\nP-1,电容,28.00,40\nP-2,主板,三百,6\nP-3,门封条,60.00,15\n"
    with pytest.raises(CsvImportError) as error:
        parse_csv("part", text)
    assert [(e.line, e.field) for e in error.value.errors] == [(3, "price")]
    assert "第 3 行" in str(error.value) and "price" in str(error.value)


def test_every_bad_row_and_field_is_listed_at_once():
    text = (
        "contract_no,customer_name,customer_phone,serial_no,start_date,end_date,covers_labour,covers_parts\n"
        "HT-1,王建国,,,2025-01-01,2025-12-31,是,是\n"  # neither phone nor serial
        "HT-2,李四,13900000000,,2025-06-01,2025-05-01,是,也许\n"  # end before start, bad boolean
        "HT-3,,13900000001,SN!,2025-02-30,2025-12-31,是,是\n"  # no name, bad serial, bad date
        "HT-4,赵六,13900000002,,2025-01-01,2025-12-31,否,否\n"
        "HT-4,赵六,13900000002,,2025-01-01,2025-12-31,否,否\n"  # repeated contract number
    )
    with pytest.raises(CsvImportError) as error:
        parse_csv("contract", text)
    assert [(e.line, e.field) for e in error.value.errors] == [
        (2, "serial_no"),
        (3, "end_date"),
        (3, "covers_parts"),
        (4, "serial_no"),
        (4, "start_date"),
        (4, "customer_name"),
        (6, "contract_no"),
    ]
    assert "与第 5 行重复" in str(error.value)


@pytest.mark.parametrize(
    ("kind", "text", "expected"),
    [
        ("part", "code,name,price\nP-1,电容,28\n", [(1, "stock")]),
        ("part", "code,name,price,stock,colour\n", [(1, "colour")]),
        ("part", "", [(1, "header")]),
        ("part", "code,name,price,stock\nP-1,电容,28,4,多余\n", [(2, "columns")]),
        (
            "part",
            "code,name,price,stock\nP-1,电容,-1,4\nP-2,主板,1.001,-4\n",
            [(2, "price"), (3, "price"), (3, "stock")],
        ),
        ("fee", "order_type,kind,code,name,unit_price\nwash,tip,X,小费,5\n", [(2, "order_type"), (2, "kind")]),
        (
            "fee",
            "order_type,kind,code,name,unit_price\nrepair,labour,L1,人工,80\nrepair,labour,L2,人工,90\n",
            [(3, "kind")],
        ),
        ("technician", "technician_id,name,station,zone\nT1,张伟,城西站,downtown\n", [(2, "zone")]),
        (
            "product",
            "model,category,name,warranty_months\nX-1,冰箱,冰箱,十二\nX 2,,冰箱,12\n",
            [(2, "warranty_months"), (3, "model"), (3, "category")],
        ),
    ],
)
def test_header_and_row_problems_are_reported_with_line_and_field(kind, text, expected):
    with pytest.raises(CsvImportError) as error:
        parse_csv(kind, text)
    assert [(e.line, e.field) for e in error.value.errors] == expected


def test_excel_byte_order_mark_blank_lines_and_spaces_are_tolerated():
    text = "\ufeffcode,name,price,stock\r\n\r\n P-1 , 电容 , 28.00 , 40 \r\n,,,\r\n"
    assert parse_csv("part", text) == [Part("P-1", "电容", Decimal("28.00"), 40)]


def test_header_only_file_is_an_empty_import():
    assert parse_csv("technician", "technician_id,name,phone,station,zone,skills\n") == []


def test_unknown_kind_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown"):
        parse_csv("customer", "a,b\n")


def test_demo_files_use_the_documented_headers():
    for kind, text in demo_csv_texts().items():
        assert tuple(text.splitlines()[0].split(",")) == HEADERS[kind]


def test_demo_data_parses_and_covers_the_domain():
    ref = demo_reference_data()
    products = parse_csv("product", demo_csv_texts()["product"])
    assert len(products) >= 15
    assert {p.category for p in products} == {"空调", "冰箱", "洗衣机", "电视", "热水器", "小家电"}
    assert len(parse_csv("part", demo_csv_texts()["part"])) >= 20
    assert any(p.stock == 0 for p in parse_csv("part", demo_csv_texts()["part"]))
    assert all(ref.fee_schedule(t) and ref.fee_schedule(t).labour for t in ORDER_TYPES)
    assert {t.zone for t in parse_csv("technician", demo_csv_texts()["technician"])} == {"in_city", "out_of_city"}
    assert ref.contract("HT-2024-0007").end == date(2025, 6, 30)
    assert ref.is_special_sale("HX55E3F20230815A01")

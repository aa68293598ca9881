"""Read-only reference data the operators consult, and an in-memory implementation.

The engine injects a :class:`ReferenceData` as ``ref``. Until the database-backed reader
exists, and in every unit test, :class:`InMemoryReferenceData` serves; it is built from
lists of the frozen records below, e.g. those returned by :func:`tasks.refcsv.parse_csv`.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Protocol

DEFAULT_SLA_SETTINGS: dict[str, Any] = {
    # Completion deadlines in hours from dispatch, per order type and zone.
    "completion_hours": {
        "install": {"in_city": 24, "out_of_city": 48},
        "repair": {"in_city": 72, "out_of_city": 168},
    },
    # Order types without their own entry use this one's deadlines.
    "completion_fallback": "repair",
    "status_reply_min_hours": 6,
    "urge_callback_hours": 1,
    "card_hand_in_hours": 24,
}

DEFAULT_PENALTY_SETTINGS: dict[str, Any] = {
    "late_card_amount_per_block": "1.00",
    "late_card_block_hours": 3,
    "missed_urge_callback_min": "5.00",
    "missed_urge_callback_max": "50.00",
    "missed_urge_callback_default": "20.00",
    "false_status_reply": "50.00",
    # The seed names a penalty for a false parts invoice but no amount (design).
    "false_parts_invoice": "50.00",
    "no_fault_part_multiplier": "2",
    "part_price_tolerance": "0.10",
}


@dataclass(frozen=True)
class Product:
    """A product model in the catalog; warranty periods in months from purchase.

    ``parts_warranty_months`` / ``labour_warranty_months`` default to ``warranty_months``.
    """

    model: str
    category: str
    name: str
    warranty_months: int
    parts_warranty_months: int | None = None
    labour_warranty_months: int | None = None


@dataclass(frozen=True)
class SpecialSale:
    """A serial number on the special-sales list (特殊销售情况表): never under warranty."""

    serial_no: str
    product_model: str = ""
    reason: str = ""


@dataclass(frozen=True)
class Contract:
    """A service contract (合同服务) valid from ``start`` to ``end``, both days included.

    With a ``serial_no`` it covers that unit; without, every unit of the customer
    identified by ``customer_phone``.
    """

    contract_no: str
    customer_name: str
    customer_phone: str
    serial_no: str
    start: date
    end: date
    covers_labour: bool
    covers_parts: bool

    def active_on(self, day: date) -> bool:
        return self.start <= day <= self.end


@dataclass(frozen=True)
class Part:
    """A spare part with its list price and current stock."""

    code: str
    name: str
    price: Decimal
    stock: int


@dataclass(frozen=True)
class FeeItem:
    """One row of the fee schedule: ``kind`` is ``labour``, ``material`` or ``travel``."""

    order_type: str
    kind: str
    code: str
    name: str
    unit: str
    unit_price: Decimal


@dataclass(frozen=True)
class FeeSchedule:
    """The fees of one order type: labour, out-of-city travel, extra materials (加料)."""

    order_type: str
    labour: FeeItem | None = None
    travel: FeeItem | None = None
    materials: tuple[FeeItem, ...] = ()

    def material(self, code: str) -> FeeItem | None:
        return next((m for m in self.materials if m.code == code), None)


@dataclass(frozen=True)
class Technician:
    """A technician (or repair station crew) with zone, station and skills."""

    technician_id: str
    name: str
    phone: str
    station: str
    zone: str
    skills: frozenset[str] = field(default_factory=frozenset)


class ReferenceData(Protocol):
    """What operators may read; implementations never write."""

    def product(self, model: str) -> Product | None: ...

    def is_special_sale(self, serial_no: str) -> bool: ...

    def contracts(self, serial_no: str | None = None, customer_phone: str | None = None, *, on: date) -> list[Contract]:
        """Contracts active ``on`` that cover the unit ``serial_no`` or the customer's units."""
        ...

    def contract(self, contract_no: str) -> Contract | None: ...

    def part(self, code: str) -> Part | None: ...

    def fee_schedule(self, order_type: str) -> FeeSchedule | None: ...

    def technician(self, technician_id: str) -> Technician | None: ...

    def sla_settings(self) -> dict[str, Any]:
        """Every key of :data:`DEFAULT_SLA_SETTINGS`, possibly with other values."""
        ...

    def penalty_settings(self) -> dict[str, Any]:
        """Every key of :data:`DEFAULT_PENALTY_SETTINGS`, possibly with other values."""
        ...


def normalize_phone(phone: str) -> str:
    """Digits only, so ``138-0013-8000`` and ``13800138000`` match."""
    return "".join(ch for ch in phone if ch.isdigit())


class InMemoryReferenceData:
    """A :class:`ReferenceData` over lists of records, for tests and the demo."""

    def __init__(
        self,
        *,
        products: Iterable[Product] = (),
        special_sales: Iterable[SpecialSale] = (),
        contracts: Iterable[Contract] = (),
        parts: Iterable[Part] = (),
        fees: Iterable[FeeItem] = (),
        technicians: Iterable[Technician] = (),
        sla: Mapping[str, Any] | None = None,
        penalties: Mapping[str, Any] | None = None,
    ) -> None:
        self._products = {p.model: p for p in products}
        self._special = {s.serial_no for s in special_sales}
        self._contracts = list(contracts)
        self._parts = {p.code: p for p in parts}
        self._fees = group_fees(fees)
        self._technicians = {t.technician_id: t for t in technicians}
        self._sla = {**copy.deepcopy(DEFAULT_SLA_SETTINGS), **(sla or {})}
        self._penalties = {**DEFAULT_PENALTY_SETTINGS, **(penalties or {})}

    def product(self, model: str) -> Product | None:
        return self._products.get(model)

    def is_special_sale(self, serial_no: str) -> bool:
        return serial_no in self._special

    def contracts(self, serial_no: str | None = None, customer_phone: str | None = None, *, on: date) -> list[Contract]:
        phone = normalize_phone(customer_phone or "")
        return [
            c
            for c in self._contracts
            if c.active_on(on)
            and (
                (c.serial_no and c.serial_no == serial_no)
                or (not c.serial_no and phone and normalize_phone(c.customer_phone) == phone)
            )
        ]

    def contract(self, contract_no: str) -> Contract | None:
        return next((c for c in self._contracts if c.contract_no == contract_no), None)

    def part(self, code: str) -> Part | None:
        return self._parts.get(code)

    def fee_schedule(self, order_type: str) -> FeeSchedule | None:
        return self._fees.get(order_type)

    def technician(self, technician_id: str) -> Technician | None:
        return self._technicians.get(technician_id)

    def sla_settings(self) -> dict[str, Any]:
        return copy.deepcopy(self._sla)

    def penalty_settings(self) -> dict[str, Any]:
        return dict(self._penalties)


def group_fees(fees: Iterable[FeeItem]) -> dict[str, FeeSchedule]:
    """Fee items grouped into one :class:`FeeSchedule` per order type (materials in the given order)."""
    rows: dict[str, list[FeeItem]] = {}
    for item in fees:
        rows.setdefault(item.order_type, []).append(item)
    return {
        order_type: FeeSchedule(
            order_type,
            labour=next((i for i in items if i.kind == "labour"), None),
            travel=next((i for i in items if i.kind == "travel"), None),
            materials=tuple(i for i in items if i.kind == "material"),
        )
        for order_type, items in rows.items()
    }


def setting(settings: Mapping[str, Any] | None, key: str) -> Any:
    """Look ``key`` up in ``settings``, falling back to the seed's defaults.

    ``settings`` may be the SLA settings, the penalty settings or both merged (their keys
    are distinct), so partial settings from the database still work.

    :raises KeyError: ``key`` is no known setting
    """
    if settings is not None and key in settings:
        return settings[key]
    if key in DEFAULT_SLA_SETTINGS:
        return DEFAULT_SLA_SETTINGS[key]
    return DEFAULT_PENALTY_SETTINGS[key]

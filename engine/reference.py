"""Reference data in the database: tables, the cached reader the operators get, CSV import.

The operators in ``tasks`` read reference data through :class:`tasks.refdata.ReferenceData`;
:class:`DatabaseReferenceData` implements it over these tables with a small in-process cache.
Every write bumps the kind's row in ``ref_revision`` in the same transaction. A reader drops
what it cached of a kind as soon as an import in its own process commits, and other processes
notice the new revision within ``max_age`` seconds.

:class:`ReferenceAdmin` is mixed into the facade: import a CSV of one kind (all or nothing),
count rows, read and change the SLA and penalty settings.
"""

from __future__ import annotations

import copy
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Index, Integer, Numeric, String, Text, func, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.types import TypeDecorator

from engine.clock import Clock
from engine.db import Database
from engine.errors import InvalidInput, NotAllowed
from engine.models import Base, Event, Id
from engine.results import SYSTEM, Actor
from tasks import refcsv, settings
from tasks.refdata import (
    DEFAULT_PENALTY_SETTINGS,
    DEFAULT_SLA_SETTINGS,
    Contract,
    FeeItem,
    FeeSchedule,
    Part,
    Product,
    SpecialSale,
    Technician,
    group_fees,
    normalize_phone,
)
from tasks.registry import ServiceInputError

CENT = Decimal("0.01")
MAX_CSV_BYTES = 20 * 1024 * 1024


class Money(TypeDecorator):
    """Exact yuan amounts: NUMERIC(12, 2) on PostgreSQL, text on SQLite (no decimal type there)."""

    impl = Numeric(12, 2)
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(24))
        return dialect.type_descriptor(Numeric(12, 2))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        amount = Decimal(value).quantize(CENT)
        return str(amount) if dialect.name == "sqlite" else amount

    def process_result_value(self, value, dialect):
        return None if value is None else Decimal(value).quantize(CENT)


# -- tables ----------------------------------------------------------------------------------


class RefProduct(Base):
    __tablename__ = "ref_product"
    model: Mapped[str] = mapped_column(String(64), primary_key=True)
    category: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(256))
    warranty_months: Mapped[int] = mapped_column(Integer)
    parts_warranty_months: Mapped[int | None] = mapped_column(Integer)
    labour_warranty_months: Mapped[int | None] = mapped_column(Integer)


class RefSpecialSale(Base):
    """The special-sales list (特殊销售情况表): serials never under warranty."""

    __tablename__ = "ref_special_sale"
    serial_no: Mapped[str] = mapped_column(String(64), primary_key=True)
    product_model: Mapped[str] = mapped_column(String(64), default="")
    reason: Mapped[str] = mapped_column(String(256), default="")


class RefContract(Base):
    __tablename__ = "ref_contract"
    __table_args__ = (Index("ix_ref_contract_serial", "serial_no"), Index("ix_ref_contract_phone", "phone_digits"))
    contract_no: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_name: Mapped[str] = mapped_column(String(256))
    customer_phone: Mapped[str] = mapped_column(String(32), default="")
    phone_digits: Mapped[str] = mapped_column(String(32), default="")  # the phone as looked up
    serial_no: Mapped[str] = mapped_column(String(64), default="")
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    covers_labour: Mapped[bool] = mapped_column(Boolean)
    covers_parts: Mapped[bool] = mapped_column(Boolean)


class RefPart(Base):
    __tablename__ = "ref_part"
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    price: Mapped[Decimal] = mapped_column(Money)
    stock: Mapped[int] = mapped_column(Integer)


class RefFeeItem(Base):
    """One fee-schedule line; rows keep their import order (materials are listed in it)."""

    __tablename__ = "ref_fee_item"
    __table_args__ = (Index("ix_ref_fee_item_key", "order_type", "kind", "code", unique=True),)
    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    order_type: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(256))
    unit: Mapped[str] = mapped_column(String(32), default="")
    unit_price: Mapped[Decimal] = mapped_column(Money)


class RefTechnician(Base):
    __tablename__ = "ref_technician"
    technician_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    phone: Mapped[str] = mapped_column(String(32), default="")
    station: Mapped[str] = mapped_column(String(256))
    zone: Mapped[str] = mapped_column(String(16))
    skills: Mapped[str] = mapped_column(Text, default="")  # sorted, joined by ";"


class RefSetting(Base):
    """An SLA or penalty setting that overrides the seed's default (see :mod:`tasks.settings`)."""

    __tablename__ = "ref_setting"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column()
    updated_by: Mapped[str] = mapped_column(String(64))


class RefRevision(Base):
    """A counter per kind of reference data, bumped by every write; readers compare it."""

    __tablename__ = "ref_revision"
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime | None] = mapped_column()


# -- records <-> rows ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Kind:
    table: type[Base]
    key: Callable[[Any], tuple]  # works on records and rows alike
    columns: Callable[[Any], dict[str, Any]]  # record -> column values
    record: Callable[[Any], Any]  # row -> record


def _fee_key(item: Any) -> tuple:
    # one labour and one travel line per order type; materials by code (as tasks.refcsv checks)
    return (item.order_type, item.kind, item.code if item.kind == "material" else "")


KINDS: dict[str, _Kind] = {
    "product": _Kind(
        RefProduct,
        lambda r: (r.model,),
        lambda p: dict(model=p.model, category=p.category, name=p.name, warranty_months=p.warranty_months,
                       parts_warranty_months=p.parts_warranty_months, labour_warranty_months=p.labour_warranty_months),
        lambda r: Product(r.model, r.category, r.name, r.warranty_months, r.parts_warranty_months,
                          r.labour_warranty_months),
    ),
    "special_sale": _Kind(
        RefSpecialSale,
        lambda r: (r.serial_no,),
        lambda s: dict(serial_no=s.serial_no, product_model=s.product_model, reason=s.reason),
        lambda r: SpecialSale(r.serial_no, r.product_model, r.reason),
    ),
    "contract": _Kind(
        RefContract,
        lambda r: (r.contract_no,),
        lambda c: dict(contract_no=c.contract_no, customer_name=c.customer_name, customer_phone=c.customer_phone,
                       phone_digits=normalize_phone(c.customer_phone), serial_no=c.serial_no, start_date=c.start,
                       end_date=c.end, covers_labour=c.covers_labour, covers_parts=c.covers_parts),
        lambda r: Contract(r.contract_no, r.customer_name, r.customer_phone, r.serial_no, r.start_date, r.end_date,
                           r.covers_labour, r.covers_parts),
    ),
    "part": _Kind(
        RefPart,
        lambda r: (r.code,),
        lambda p: dict(code=p.code, name=p.name, price=p.price, stock=p.stock),
        lambda r: Part(r.code, r.name, r.price, r.stock),
    ),
    "fee": _Kind(
        RefFeeItem,
        _fee_key,
        lambda f: dict(order_type=f.order_type, kind=f.kind, code=f.code, name=f.name, unit=f.unit,
                       unit_price=f.unit_price),
        lambda r: FeeItem(r.order_type, r.kind, r.code, r.name, r.unit, r.unit_price),
    ),
    "technician": _Kind(
        RefTechnician,
        lambda r: (r.technician_id,),
        lambda t: dict(technician_id=t.technician_id, name=t.name, phone=t.phone, station=t.station, zone=t.zone,
                       skills=";".join(sorted(t.skills))),
        lambda r: Technician(r.technician_id, r.name, r.phone, r.station, r.zone,
                             frozenset(s for s in r.skills.split(";") if s)),
    ),
}
SETTINGS = "setting"


def bump_revision(s: Session, kind: str, now: datetime) -> None:
    """Mark ``kind`` changed; call in the transaction that changes it.

    The UPDATE also locks the kind's row, so two imports of one kind run one after the other.
    """
    done = s.execute(
        update(RefRevision).where(RefRevision.kind == kind).values(revision=RefRevision.revision + 1, updated_at=now)
    )
    if getattr(done, "rowcount", 0) == 0:
        s.add(RefRevision(kind=kind, revision=1, updated_at=now))
        s.flush()


# -- the reader ------------------------------------------------------------------------------

_READERS: weakref.WeakSet[DatabaseReferenceData] = weakref.WeakSet()
_READERS_LOCK = threading.Lock()


def invalidate_readers(db: Database, kind: str | None = None) -> None:
    """Make every reader of this process on ``db``'s database forget ``kind`` (or everything)."""
    with _READERS_LOCK:
        readers = [r for r in _READERS if r.db.url == db.url]
    for reader in readers:
        reader.invalidate(kind)


class DatabaseReferenceData:
    """:class:`tasks.refdata.ReferenceData` over the ``ref_*`` tables, with a bounded LRU cache.

    :param db: the database
    :param max_age: seconds between checks of ``ref_revision`` for writes by other processes
    :param size: entries kept per kind
    """

    def __init__(self, db: Database, *, max_age: float = 5.0, size: int = 1024,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.db = db
        self.max_age = max_age
        self.size = size
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._entries: dict[str, OrderedDict[Any, Any]] = {}
        self._generation: dict[str, int] = {}
        self._revisions: dict[str, int] = {}
        self._checked_at: float | None = None
        with _READERS_LOCK:
            _READERS.add(self)

    def invalidate(self, kind: str | None = None) -> None:
        """Forget what was cached of ``kind``, or of every kind."""
        with self._lock:
            for k in [kind] if kind else list(self._entries):
                self._entries.pop(k, None)
                self._generation[k] = self._generation.get(k, 0) + 1

    # -- ReferenceData ---------------------------------------------------------------------

    def product(self, model: str) -> Product | None:
        return self._one("product", model, RefProduct.model)

    def is_special_sale(self, serial_no: str) -> bool:
        return self._one("special_sale", serial_no, RefSpecialSale.serial_no) is not None

    def contracts(self, serial_no: str | None = None, customer_phone: str | None = None, *, on: date) -> list[Contract]:
        serial, phone = serial_no or "", normalize_phone(customer_phone or "")

        def load(s: Session) -> tuple[Contract, ...]:
            unit = (RefContract.serial_no == serial) & (RefContract.serial_no != "")
            customer = (RefContract.serial_no == "") & (RefContract.phone_digits == phone) & (RefContract.phone_digits != "")
            rows = s.scalars(select(RefContract).where(or_(unit, customer)).order_by(RefContract.contract_no))
            return tuple(KINDS["contract"].record(r) for r in rows)

        return [c for c in self._cached("contract", ("for", serial, phone), load) if c.active_on(on)]

    def contract(self, contract_no: str) -> Contract | None:
        return self._one("contract", contract_no, RefContract.contract_no)

    def part(self, code: str) -> Part | None:
        return self._one("part", code, RefPart.code)

    def fee_schedule(self, order_type: str) -> FeeSchedule | None:
        def load(s: Session) -> FeeSchedule | None:
            rows = s.scalars(select(RefFeeItem).where(RefFeeItem.order_type == order_type).order_by(RefFeeItem.id))
            return group_fees(KINDS["fee"].record(r) for r in rows).get(order_type)

        return self._cached("fee", order_type, load)

    def technician(self, technician_id: str) -> Technician | None:
        return self._one("technician", technician_id, RefTechnician.technician_id)

    def sla_settings(self) -> dict[str, Any]:
        stored = self._settings()
        return copy.deepcopy({**DEFAULT_SLA_SETTINGS, **{k: v for k, v in stored.items() if k in DEFAULT_SLA_SETTINGS}})

    def penalty_settings(self) -> dict[str, Any]:
        stored = self._settings()
        return {**DEFAULT_PENALTY_SETTINGS, **{k: v for k, v in stored.items() if k in DEFAULT_PENALTY_SETTINGS}}

    # -- caching ---------------------------------------------------------------------------

    def _settings(self) -> dict[str, Any]:
        def load(s: Session) -> dict[str, Any]:
            return {row.key: row.value for row in s.scalars(select(RefSetting))}

        return self._cached(SETTINGS, "all", load)

    def _one(self, kind: str, key: Any, column) -> Any:
        if not isinstance(key, str):
            return None
        table = KINDS[kind].table

        def load(s: Session) -> Any:
            row = s.scalars(select(table).where(column == key)).first()
            return None if row is None else KINDS[kind].record(row)

        return self._cached(kind, key, load)

    def _cached(self, kind: str, key: Any, load: Callable[[Session], Any]) -> Any:
        self._check_revisions()
        with self._lock:
            entries = self._entries.setdefault(kind, OrderedDict())
            if key in entries:
                entries.move_to_end(key)
                return entries[key]
            generation = self._generation.get(kind, 0)
        with self.db.read() as s:
            value = load(s)
        with self._lock:
            # an import that committed while we read may have made this value stale
            if self._generation.get(kind, 0) == generation:
                entries = self._entries.setdefault(kind, OrderedDict())
                entries[key] = value
                while len(entries) > self.size:
                    entries.popitem(last=False)
        return value

    def _check_revisions(self) -> None:
        now = self._monotonic()
        with self._lock:
            if self._checked_at is not None and now - self._checked_at < self.max_age:
                return
            self._checked_at = now
        with self.db.read() as s:
            revisions = {kind: rev for kind, rev in s.execute(select(RefRevision.kind, RefRevision.revision))}
        with self._lock:
            changed = [k for k in set(revisions) | set(self._revisions) if revisions.get(k) != self._revisions.get(k)]
            self._revisions = revisions
        for kind in changed:
            self.invalidate(kind)


# -- the facade's verbs ----------------------------------------------------------------------


@dataclass(frozen=True)
class ReferenceImport:
    """What one CSV import changed; ``count`` is the number of rows in the file."""

    kind: str
    count: int
    created: int
    updated: int
    unchanged: int
    removed: int
    replace: bool


class ReferenceAdmin:
    """Mixed into :class:`engine.facade.Engine`; needs ``self.db`` and ``self.clock``."""

    db: Database
    clock: Clock

    def import_reference(self, kind: str, data: str | bytes, *, replace: bool = False,
                         actor: Actor = SYSTEM) -> ReferenceImport:
        """Import one CSV file of reference data in one transaction.

        Rows are matched by their key (product model, serial number, contract number, part
        code, order type + fee kind (+ material code), technician id): new keys are added,
        known ones updated, and rows missing from the file are kept, unless ``replace``,
        which removes them so the table equals the file.

        :param kind: ``product``, ``special_sale``, ``contract``, ``part``, ``fee`` or ``technician``
        :param data: the CSV text, or its bytes in UTF-8 (with or without BOM) or GB18030
        :raises InvalidInput: unknown kind, undecodable file, or bad rows; ``fields`` maps
            ``"<line>:<column>"`` to the problem, and nothing was imported
        :raises NotAllowed: ``actor`` is not an admin
        """
        _require_admin(actor)
        if kind not in KINDS:
            raise InvalidInput(f"未知的参考数据类型 {kind!r}", {"kind": f"应为 {'、'.join(KINDS)} 之一"})
        text = decode_csv(data)
        try:
            records = refcsv.parse_csv(kind, text)
        except refcsv.CsvImportError as exc:
            fields: dict[str, str] = {}
            for e in exc.errors:
                key = f"{e.line}:{e.field}"
                fields[key] = f"{fields[key]}；{e.message}" if key in fields else e.message
            raise InvalidInput(str(exc), fields) from None
        now = self.clock.now()
        with self.db.write() as s:
            bump_revision(s, kind, now)  # first: it serializes concurrent imports of this kind
            result = _store(s, kind, records, replace)
            s.add(Event(instance_id=None, at=now, actor=actor.username, kind="reference_imported",
                        data={"kind": kind, "count": result.count, "created": result.created,
                              "updated": result.updated, "removed": result.removed, "replace": replace}))
        invalidate_readers(self.db, kind)
        return result

    def reference_counts(self) -> dict[str, int]:
        """Rows per kind of reference data."""
        with self.db.read() as s:
            return {kind: s.scalar(select(func.count()).select_from(k.table)) or 0 for kind, k in KINDS.items()}

    def reference_settings(self) -> dict[str, Any]:
        """The effective SLA and penalty settings (stored values over the seed's defaults)."""
        with self.db.read() as s:
            stored = {row.key: row.value for row in s.scalars(select(RefSetting))}
        return {**copy.deepcopy(DEFAULT_SLA_SETTINGS), **DEFAULT_PENALTY_SETTINGS, **stored}

    def update_reference_settings(self, changes: Mapping[str, Any], *, actor: Actor = SYSTEM) -> dict[str, Any]:
        """Store new values for some SLA or penalty settings; returns the effective settings.

        :raises InvalidInput: an unknown key or a bad value, per key; nothing is stored then
        :raises NotAllowed: ``actor`` is not an admin
        """
        _require_admin(actor)
        checked, problems = {}, {}
        for key, value in changes.items():
            try:
                checked[key] = settings.check_setting(key, value)
            except ServiceInputError as exc:
                problems[exc.field] = exc.message
        if not problems:
            try:
                settings.check_settings({**self.reference_settings(), **checked})
            except ServiceInputError as exc:
                problems[exc.field] = exc.message
        if problems:
            raise InvalidInput("设置有误，未保存", problems)
        now = self.clock.now()
        with self.db.write() as s:
            bump_revision(s, SETTINGS, now)
            for key, value in checked.items():
                row = s.get(RefSetting, key)
                if row is None:
                    s.add(RefSetting(key=key, value=value, updated_at=now, updated_by=actor.username))
                else:
                    row.value, row.updated_at, row.updated_by = value, now, actor.username
            s.add(Event(instance_id=None, at=now, actor=actor.username, kind="settings_changed", data=checked))
        invalidate_readers(self.db, SETTINGS)
        return self.reference_settings()


def decode_csv(data: str | bytes) -> str:
    """CSV bytes as text: UTF-8 (Excel's BOM allowed), else GB18030 (Excel on Chinese Windows).

    :raises InvalidInput: too large, or neither encoding fits
    """
    if len(data) > MAX_CSV_BYTES:
        raise InvalidInput("文件过大", {"file": f"上限 {MAX_CSV_BYTES // 1024 // 1024} MB"})
    if isinstance(data, str):
        return data
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InvalidInput("无法识别文件编码", {"file": "请另存为 UTF-8 或 GBK 编码的 CSV"})


def _require_admin(actor: Actor) -> None:
    if not actor.is_admin:
        raise NotAllowed("只有管理员可以修改参考数据")


def _store(s: Session, kind: str, records: Iterable[Any], replace: bool) -> ReferenceImport:
    spec = KINDS[kind]
    existing = {spec.key(row): row for row in s.scalars(select(spec.table))}
    seen: set[tuple] = set()
    created = updated = unchanged = 0
    for record in records:
        key = spec.key(record)
        seen.add(key)
        values = spec.columns(record)
        row = existing.get(key)
        if row is None:
            s.add(spec.table(**values))
            created += 1
        elif any(getattr(row, name) != value for name, value in values.items()):
            for name, value in values.items():
                setattr(row, name, value)
            updated += 1
        else:
            unchanged += 1
    removed = 0
    if replace:
        for key, row in existing.items():
            if key not in seen:
                s.delete(row)
                removed += 1
    s.flush()
    return ReferenceImport(kind, len(seen), created, updated, unchanged, removed, replace)

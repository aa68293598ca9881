"""Process modeling verbs (mixed into the facade): the process catalog, version sources and
diffs, the editor's workspace, drafts, validation with lint rules, deploying from the
editor, migrating running instances between versions, and the analysts' scenario runner.

Migration keeps an instance's state: its stored workflow state is loaded against the target
version's spec (task specs are referenced by name in the state; the spec lives with the
definition version), after renaming task specs by the explicit mapping. It is refused for an
instance when an active or waiting task (user task, timer, message catch, a running
subprocess or call activity and its contents), or a finished task, has no element of the same
id (or mapped id) in the target; predicted tasks of removed elements are dropped and predicted
again as the instance moves on. Boundary events the target adds to a task that is already
open take effect the next time a token reaches that task. Each instance moves in its own
transaction: its row locked (without waiting on PostgreSQL: a busy instance is reported, not
waited for), ``version + 1``, the projections (inbox task rows, timer jobs, message
subscriptions) re-derived by the step machinery, and an audit event ``migrated``.

Non-executable processes (``isExecutable`` false or absent, as in most interchange models)
are not deployed: ``deploy`` refuses a file set with no executable process, naming each
process; an analyst keeps such models as drafts, which accept any well-formed file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from SpiffWorkflow.util.task import TaskState
from sqlalchemy import func, select, union, update
from sqlalchemy.exc import OperationalError

from engine import identity, model_lint, runtime
from engine.deploy import FORM_DIR, Validator
from engine.errors import Conflict, DeployError, InvalidInput, NotAllowed, NotFound, Problem
from engine.modeling_models import ModelDraft
from engine.models import Definition, Event, HumanTask, Instance, Job, MessageSubscription
from engine.results import Actor, DeployResult
from engine.spiff import MAX_SOURCE_BYTES, UnsafeXML, parse_xml

MODEL_ROLES = frozenset({"analyst", "admin"})
STATUSES = ("running", "waiting", "error", "suspended", "completed", "terminated")
FILE_NAME = re.compile(r"^(?:forms/)?[A-Za-z0-9_\-][A-Za-z0-9_.\-]{0,120}\.(?:bpmn|dmn|json)$")
MAX_DRAFT_FILES = 400
MAX_DRAFT_NAME = 200
_DTD = re.compile(r"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)
LIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED
FINISHED = TaskState.COMPLETED | TaskState.CANCELLED | TaskState.ERROR
MOVABLE_STATUSES = ("running", "waiting", "suspended")
MAX_PREDICTION_DEPTH = 500


# -- results -------------------------------------------------------------------------------


@dataclass(frozen=True)
class VersionSummary:
    definition_id: int
    version: int
    name: str
    sha256: str
    deployed_by: str
    deployed_at: datetime
    instance_counts: dict[str, int]


@dataclass(frozen=True)
class ProcessSummary:
    process_id: str
    name: str
    latest_version: int
    latest_definition_id: int
    versions: tuple[VersionSummary, ...]


@dataclass(frozen=True)
class ElementChange:
    element_id: str
    element_type: str
    name: str
    details: tuple[str, ...] = ()
    file: str = ""


@dataclass(frozen=True)
class DefinitionDiff:
    from_definition_id: int
    to_definition_id: int
    added: tuple[ElementChange, ...]
    removed: tuple[ElementChange, ...]
    changed: tuple[ElementChange, ...]
    forms_added: tuple[str, ...] = ()
    forms_removed: tuple[str, ...] = ()
    forms_changed: tuple[str, ...] = ()
    files_added: tuple[str, ...] = ()
    files_removed: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelProblem:
    """One problem of a model: ``severity`` is 'error' (blocks deploying) or 'warning'."""

    file: str
    element_id: str | None
    severity: str
    code: str
    message: str
    line: int | None = None


@dataclass(frozen=True)
class DraftView:
    id: int
    name: str
    files: dict[str, str]
    author: str
    updated_at: datetime
    base_definition_id: int | None
    problems: tuple[ModelProblem, ...] = ()
    created_at: datetime | None = None


class BlockedInstance(NamedTuple):
    """An instance that cannot (or did not) move, with the reason in Chinese."""

    instance_id: int
    reason: str


@dataclass(frozen=True)
class MigrationPlan:
    from_definition_id: int
    to_definition_id: int
    movable: tuple[int, ...]
    blocked: tuple[BlockedInstance, ...]
    mapping: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MigrationReport:
    moved: tuple[int, ...]
    blocked: tuple[BlockedInstance, ...]


class _Blocked(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# -- the mixin -------------------------------------------------------------------------------


class Modeling:
    """Mixed into :class:`engine.facade.Engine`; uses its database, deploy and step machinery."""

    # -- catalog, sources, workspace ---------------------------------------------------------

    def process_catalog(self) -> list:
        """Every deployed process with its versions (newest last) and instance counts per status."""
        with self.db.read() as s:
            rows = s.execute(select(Definition.id, Definition.process_id, Definition.name, Definition.version,
                                    Definition.sha256, Definition.deployed_by, Definition.deployed_at)
                             .order_by(Definition.process_id, Definition.version)).all()
            counts: dict[int, dict[str, int]] = {}
            for definition_id, status, n in s.execute(
                    select(Instance.definition_id, Instance.status, func.count())
                    .group_by(Instance.definition_id, Instance.status)):
                counts.setdefault(definition_id, {})[status] = n
        by_process: dict[str, list[VersionSummary]] = {}
        for r in rows:
            found = counts.get(r.id, {})
            ordered = {k: found[k] for k in STATUSES if k in found}
            ordered.update({k: v for k, v in found.items() if k not in ordered})
            by_process.setdefault(r.process_id, []).append(VersionSummary(
                r.id, r.version, r.name, r.sha256, r.deployed_by, r.deployed_at, ordered))
        out = []
        for process_id, versions in by_process.items():
            latest = versions[-1]
            out.append(ProcessSummary(process_id, latest.name, latest.version, latest.definition_id, tuple(versions)))
        return sorted(out, key=lambda p: p.process_id)

    def definition_sources(self, definition_id: int) -> dict[str, str]:
        """The files stored with one version: file name → text.

        :raises NotFound: no such definition
        """
        with self.db.read() as s:
            sources = s.execute(select(Definition.sources).where(Definition.id == definition_id)).scalar()
        if sources is None:
            raise NotFound(f"流程版本 {definition_id} 不存在")
        return dict(sorted(sources.items()))

    def workspace_files(self) -> dict[str, str]:
        """The latest deployed sources of every process as one file set.

        A process's own file comes from its latest version; a file several versions carry
        (a called process, the DMN tables, forms) from the most recent deployment of it.
        """
        with self.db.read() as s:
            latest = s.execute(select(Definition.id, Definition.process_id, Definition.sources, Definition.meta)
                               .where(Definition.id.in_(select(func.max(Definition.id))
                                                        .group_by(Definition.process_id)))
                               .order_by(Definition.id)).all()
        files: dict[str, str] = {}
        for row in latest:  # oldest deployment first: newer ones win
            files.update(row.sources)
        for row in latest:
            own = (row.meta or {}).get("file")
            if own and own in row.sources:
                files[own] = row.sources[own]
        return dict(sorted(files.items()))

    # -- diff --------------------------------------------------------------------------------

    def diff_definitions(self, from_definition_id: int, to_definition_id: int) -> DefinitionDiff:
        """Elements added, removed and changed from one version to another (any two versions,
        also of different processes), and the form files added, removed or changed.

        :raises NotFound: either definition does not exist
        """
        old_files = self.definition_sources(from_definition_id)
        new_files = self.definition_sources(to_definition_id)
        old, new = _fingerprints(old_files), _fingerprints(new_files)
        added = tuple(_change(new[k]) for k in new if k not in old)
        removed = tuple(_change(old[k]) for k in old if k not in new)
        changed = []
        for key in new:
            if key in old:
                details = model_lint.compare(old[key], new[key])
                if details:
                    changed.append(_change(new[key], details))
        forms_old = {n: t for n, t in old_files.items() if n.startswith(FORM_DIR)}
        forms_new = {n: t for n, t in new_files.items() if n.startswith(FORM_DIR)}
        models_old = {n for n in old_files if not n.startswith(FORM_DIR)}
        models_new = {n for n in new_files if not n.startswith(FORM_DIR)}
        return DefinitionDiff(
            from_definition_id, to_definition_id, added, removed, tuple(changed),
            forms_added=tuple(sorted(n for n in forms_new if n not in forms_old)),
            forms_removed=tuple(sorted(n for n in forms_old if n not in forms_new)),
            forms_changed=tuple(sorted(n for n in forms_new if n in forms_old
                                       and not model_lint.same_json(forms_old[n], forms_new[n]))),
            files_added=tuple(sorted(models_new - models_old)),
            files_removed=tuple(sorted(models_old - models_new)),
        )

    # -- validation and deploy ---------------------------------------------------------------

    def validate_model(self, files: dict[str, str]) -> tuple[ModelProblem, ...]:
        """Every problem of ``files`` merged onto the workspace (so references resolve):
        well-formed and safe XML, the schemas, every deploy check, and the lint rules of
        :mod:`engine.model_lint`. Errors first, then warnings; each names file and element.
        """
        merged = self._merged(files)
        with self.db.read() as s:
            groups = identity.group_names(s)
        return _validate(merged, groups)

    def deploy_model(self, files: dict[str, str], actor: Actor) -> DeployResult:
        """Deploy the editor's files merged onto the workspace: each changed process gets a new
        version deployed by ``actor``; unchanged ones get none.

        :raises NotAllowed: the actor is neither an analyst nor an admin
        :raises DeployError: listing every problem; nothing is stored then
        """
        _require_modeler(actor)
        merged = self._merged(files)
        problems = [Problem(name, None, f"文件名不允许 (只允许 *.bpmn、*.dmn 和 {FORM_DIR}*.json)")
                    for name in files if not isinstance(name, str) or not FILE_NAME.match(name) or ".." in name]
        if problems:
            raise DeployError(problems)
        return self.deploy(_deployable(merged), actor)

    def _merged(self, files: dict[str, str]) -> dict[str, str]:
        if not isinstance(files, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
            raise InvalidInput("文件必须是 文件名 → 文本", {"files": "文件必须是 文件名 → 文本"})
        merged = self.workspace_files()
        merged.update(files)
        return merged

    # -- drafts ------------------------------------------------------------------------------

    def save_model_draft(self, name: str, files: dict[str, str], actor: Actor,
                         base_definition_id: int | None = None, draft_id: int | None = None) -> DraftView:
        """Keep files without deploying them (they may be invalid); the problems found are
        stored with the draft. ``draft_id`` overwrites an existing draft.

        :raises NotAllowed: the actor is neither an analyst nor an admin
        :raises InvalidInput: a file name not allowed, too many or too large files, or XML with a
            document type or entity declaration (naming the file)
        """
        _require_modeler(actor)
        name = (name or "").strip()[:MAX_DRAFT_NAME] or "未命名草稿"
        _check_draft_files(files)
        problems = self.validate_model(files)
        now = self.clock.now()
        stored = {"items": [_problem_dict(p) for p in problems]}
        with self.db.write() as s:
            if draft_id is not None:
                draft = s.get(ModelDraft, draft_id)
                if draft is None:
                    raise NotFound(f"草稿 {draft_id} 不存在")
                draft.name, draft.files, draft.problems, draft.updated_at = name, dict(files), stored, now
                draft.base_definition_id = base_definition_id
                draft.author = actor.username
            else:
                draft = ModelDraft(name=name, files=dict(files), problems=stored, author=actor.username,
                                   base_definition_id=base_definition_id, created_at=now, updated_at=now)
                s.add(draft)
            s.flush()
            s.add(Event(instance_id=None, at=now, actor=actor.username, kind="model_draft_saved",
                        data={"draft_id": draft.id, "name": name, "files": sorted(files)}))
            return _draft_view(draft)

    def model_drafts(self) -> list[DraftView]:
        """Every saved draft, the latest saved first."""
        with self.db.read() as s:
            return [_draft_view(d) for d in s.scalars(select(ModelDraft).order_by(ModelDraft.updated_at.desc(),
                                                                                  ModelDraft.id.desc()))]

    def model_draft(self, draft_id: int) -> DraftView:
        """:raises NotFound: no such draft"""
        with self.db.read() as s:
            draft = s.get(ModelDraft, draft_id)
            if draft is None:
                raise NotFound(f"草稿 {draft_id} 不存在")
            return _draft_view(draft)

    def delete_model_draft(self, draft_id: int, actor: Actor) -> None:
        """:raises NotFound: no such draft
        :raises NotAllowed: the actor is neither an analyst nor an admin"""
        _require_modeler(actor)
        with self.db.write() as s:
            draft = s.get(ModelDraft, draft_id)
            if draft is None:
                raise NotFound(f"草稿 {draft_id} 不存在")
            s.delete(draft)
            s.add(Event(instance_id=None, at=self.clock.now(), actor=actor.username, kind="model_draft_deleted",
                        data={"draft_id": draft_id, "name": draft.name}))

    # -- migration ---------------------------------------------------------------------------

    def migration_plan(self, from_definition_id: int, to_definition_id: int, mapping: dict[str, str] | None = None,
                       instance_ids: list[int] | None = None, filter: dict | None = None, *,
                       include_error: bool = False) -> MigrationPlan:
        """Which instances of ``from_definition_id`` can move to ``to_definition_id``.

        ``mapping`` renames elements (old id → new id) for elements whose id changed;
        ``instance_ids`` checks only these; ``filter`` narrows ``business_key`` (prefix),
        ``status`` or ``element_id`` (an open task, timer or message catch of that element).
        Instances in error are listed as blocked unless ``include_error``.

        :raises NotFound: a definition does not exist
        :raises InvalidInput: the two versions are of different processes, or the mapping is bad
        """
        mapping = self._check_migration(from_definition_id, to_definition_id, mapping)
        movable, blocked = [], []
        for iid in self._migration_candidates(from_definition_id, instance_ids, filter):
            try:
                with self.db.read() as s:
                    self._retargeted(s, iid, from_definition_id, to_definition_id, mapping, include_error)
                movable.append(iid)
            except _Blocked as why:
                blocked.append(BlockedInstance(iid, why.reason))
        return MigrationPlan(from_definition_id, to_definition_id, tuple(movable), tuple(blocked), dict(mapping))

    def migrate_instances(self, from_definition_id: int, to_definition_id: int, actor: Actor,
                          mapping: dict[str, str] | None = None, instance_ids: list[int] | None = None,
                          filter: dict | None = None, *, include_error: bool = False) -> MigrationReport:
        """Move instances to another version, each in its own transaction (see the module doc).

        An instance that cannot move, or whose move fails, stays exactly as it was and is
        listed with the reason; the others move.

        :raises NotAllowed: the actor is neither an analyst nor an admin
        :raises NotFound: a definition does not exist
        :raises InvalidInput: the two versions are of different processes, or the mapping is bad
        """
        _require_modeler(actor)
        mapping = self._check_migration(from_definition_id, to_definition_id, mapping)
        moved, blocked = [], []
        for iid in self._migration_candidates(from_definition_id, instance_ids, filter):
            try:
                self._migrate_one(iid, from_definition_id, to_definition_id, mapping, actor, include_error)
                moved.append(iid)
            except _Blocked as why:
                blocked.append(BlockedInstance(iid, why.reason))
            except Conflict as exc:
                blocked.append(BlockedInstance(iid, exc.message))
            except Exception as exc:  # one instance's failure never stops the others
                self._drop(iid)
                blocked.append(BlockedInstance(iid, f"迁移失败，实例保持原样：{type(exc).__name__}: {str(exc)[:300]}"))
        return MigrationReport(tuple(moved), tuple(blocked))

    def _check_migration(self, from_id: int, to_id: int, mapping: dict[str, str] | None) -> dict[str, str]:
        with self.db.read() as s:
            rows = {r.id: r for r in s.execute(select(Definition.id, Definition.process_id).where(
                Definition.id.in_((from_id, to_id))))}
        for definition_id in (from_id, to_id):
            if definition_id not in rows:
                raise NotFound(f"流程版本 {definition_id} 不存在")
        if rows[from_id].process_id != rows[to_id].process_id:
            raise InvalidInput("只能在同一流程的版本之间迁移",
                               {"to_definition_id": f"目标版本属于流程 {rows[to_id].process_id}"})
        if from_id == to_id:
            raise InvalidInput("源版本和目标版本相同", {"to_definition_id": "请选择另一个版本"})
        clean: dict[str, str] = {}
        for old, new in (mapping or {}).items():
            if not (isinstance(old, str) and isinstance(new, str) and old.strip() and new.strip()
                    and len(old) <= 128 and len(new) <= 128):
                raise InvalidInput("映射必须是 元素ID → 元素ID", {"mapping": f"映射 {old!r} → {new!r} 不是元素 ID"})
            clean[old.strip()] = new.strip()
        return clean

    def _migration_candidates(self, from_id: int, instance_ids: list[int] | None, flt: dict | None) -> list[int]:
        with self.db.read() as s:
            q = select(Instance.id).where(Instance.definition_id == from_id)
            if instance_ids is not None:
                wanted = [int(i) for i in instance_ids]
                q = select(Instance.id).where(Instance.id.in_(wanted))
            elif not (flt or {}).get("status"):
                q = q.where(Instance.status.notin_(("completed", "terminated")))
            flt = flt or {}
            if flt.get("business_key"):
                prefix = str(flt["business_key"]).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                q = q.where(Instance.business_key.like(prefix + "%", escape="\\"))
            if flt.get("status"):
                q = q.where(Instance.status == str(flt["status"]))
            if flt.get("element_id"):
                element = str(flt["element_id"])
                q = q.where(Instance.id.in_(union(
                    select(HumanTask.instance_id).where(HumanTask.element_id == element, HumanTask.status == "open"),
                    select(Job.instance_id).where(Job.element_id == element),
                    select(MessageSubscription.instance_id).where(MessageSubscription.element_id == element))))
            found = list(s.scalars(q.order_by(Instance.id)))
        if instance_ids is not None:
            missing = [int(i) for i in instance_ids if int(i) not in set(found)]
            return found + missing  # reported as blocked (not found) by the check
        return found

    def _retargeted(self, s, iid: int, from_id: int, to_id: int, mapping: dict[str, str], include_error: bool,
                    head=None):
        """(old workflow, new workflow, archive rows to rewrite) for one instance, or :class:`_Blocked`."""
        if head is None:
            row = s.execute(select(Instance.id, Instance.status, Instance.definition_id)
                            .where(Instance.id == iid)).first()
            if row is None:
                raise _Blocked("实例不存在")
            status, definition_id = row.status, row.definition_id
        else:
            status, definition_id = head.status, head.definition_id
        if definition_id != from_id:
            raise _Blocked("实例不在源版本上")
        if status in ("completed", "terminated"):
            raise _Blocked(f"实例已{'完成' if status == 'completed' else '终止'}，无需迁移")
        if status == "error" and not include_error:
            raise _Blocked("实例处于故障状态，请先处理故障（或明确选择包含故障实例）")
        old = self._definition(s, from_id)
        new = self._definition(s, to_id)
        state = s.execute(select(Instance.state).where(Instance.id == iid)).scalar()
        archive = list(s.execute(select(_archive_table().c.seq, _archive_table().c.record)
                                 .where(_archive_table().c.instance_id == iid).order_by(_archive_table().c.seq)))
        records = [r.record for r in archive]
        try:
            old_wf = self.serializer.load_state(state, old.spec, old.subprocess_specs, records)
        except Exception as exc:
            raise _Blocked(f"无法读取实例状态：{type(exc).__name__}: {str(exc)[:200]}") from None
        new_state, new_records = _retarget_state(state, records, mapping, old_wf, new)
        try:
            new_wf = self.serializer.load_state(new_state, new.spec, new.subprocess_specs, new_records)
            _repredict(new_wf)
        except Exception as exc:
            raise _Blocked(f"实例状态不能用目标版本读取：{type(exc).__name__}: {str(exc)[:200]}") from None
        rewritten = [(r.seq, text) for r, text in zip(archive, new_records, strict=True) if r.record != text]
        return old_wf, new_wf, rewritten, new

    def _migrate_one(self, iid: int, from_id: int, to_id: int, mapping: dict[str, str], actor: Actor,
                     include_error: bool) -> None:
        from engine import fastsql
        from engine.facade import StepContext, _Head, _is_lock_error

        now = self.clock.now()
        try:
            with self._timers_on(now), self.db.step() as s:
                lock = fastsql.LOCK + ("" if self.db.is_sqlite else " FOR UPDATE NOWAIT")
                found = self.fast.one(s, lock, (iid,))
                if found is None:
                    raise _Blocked("实例不存在")
                head = _Head(*found)
                old_wf, new_wf, rewritten, new = self._retargeted(s, iid, from_id, to_id, mapping, include_error,
                                                                  head=head)
                new_wf.script_engine = self.script_engine
                before = runtime.snapshot(old_wf)
                after = runtime.snapshot(new_wf)
                versions = {r.id: r.version for r in s.execute(select(Definition.id, Definition.version)
                                                               .where(Definition.id.in_((from_id, to_id))))}
                ctx = StepContext(s, head, new.meta, actor, now)
                ctx.log("migrated", data={"from_definition_id": from_id, "to_definition_id": to_id,
                                          "from_version": versions.get(from_id), "to_version": versions.get(to_id),
                                          "mapping": mapping})
                status = head.status if head.status in ("suspended", "error") else runtime.status_of(new_wf, after)
                table = _archive_table()
                for seq, text in rewritten:
                    s.execute(update(table).where(table.c.instance_id == iid, table.c.seq == seq).values(record=text))
                self._project(s, head, new_wf, ctx, runtime.Runner(), status, before, after)
                s.execute(update(Instance).where(Instance.id == iid).values(definition_id=to_id)
                          .execution_options(synchronize_session=False))
                lanes = new.meta.get("lanes", {})
                for task_id, task in after.ready.items():
                    bpmn_id = task.task_spec.bpmn_id
                    s.execute(update(HumanTask).where(HumanTask.id == task_id, HumanTask.status == "open").values(
                        element_id=bpmn_id, name=task.task_spec.bpmn_name or bpmn_id,
                        group_id=runtime.group_of(task, lanes) or "admin",
                        form=new.meta.get("forms", {}).get(bpmn_id)).execution_options(synchronize_session=False))
                for task_id, (element_id, _due) in after.timers.items():
                    s.execute(update(Job).where(Job.instance_id == iid, Job.task_id == task_id, Job.kind == "timer")
                              .values(element_id=element_id).execution_options(synchronize_session=False))
        except (_Blocked, Conflict):
            raise
        except Exception as exc:
            self._drop(iid)
            busy = _is_lock_error(exc) if isinstance(exc, OperationalError) else (
                type(exc).__name__ == "LockNotAvailable" or "could not obtain lock" in str(exc))
            if busy:  # NOWAIT found the row locked by another step
                raise Conflict("实例正被他人处理，未迁移，请稍后重试") from None
            raise
        self._drop(iid)

    # -- scenarios ---------------------------------------------------------------------------

    def run_model_scenarios(self, files: dict[str, str], scenarios: dict | list, *,
                            merge_workspace: bool = True) -> tuple:
        """Run scenario tests of ``files`` (merged onto the workspace) in a throw-away engine.

        Never touches this engine's database: the models are deployed into a scratch SQLite
        database that is deleted afterwards (see :mod:`engine.scenarios` for the file format).

        :raises InvalidInput: the scenarios are not in the documented format
        """
        from engine import scenarios as runner

        merged = self._merged(files) if merge_workspace else dict(files)
        try:
            with self.db.read() as s:
                groups = identity.group_names(s)
        except Exception:  # a database without tables yet: the standard groups only
            groups = {}
        return runner.run_scenarios(merged, scenarios, ref=self.script_engine.ref, groups=groups)


# -- helpers ---------------------------------------------------------------------------------


def _require_modeler(actor: Actor) -> None:
    if not (getattr(actor, "roles", frozenset()) & MODEL_ROLES):
        raise NotAllowed("需要流程分析员或管理员角色")


def _is_model_file(name: str) -> bool:
    return name.endswith((".bpmn", ".dmn")) or (name.startswith(FORM_DIR) and name.endswith(".json"))


def _deployable(files: dict[str, str]) -> dict[str, bytes]:
    """The model files among ``files`` (BPMN, DMN, forms) as the deploy checks read them."""
    return {n: t.encode("utf-8", "surrogatepass") for n, t in files.items() if _is_model_file(n)}


def _archive_table():
    from engine.models import TaskArchive

    return TaskArchive.__table__


def _check_draft_files(files: Any) -> None:
    if not isinstance(files, dict) or not files:
        raise InvalidInput("没有文件", {"files": "没有文件"})
    if len(files) > MAX_DRAFT_FILES:
        raise InvalidInput("文件太多", {"files": f"最多 {MAX_DRAFT_FILES} 个文件"})
    for name, text in files.items():
        shown = str(name)[:80]
        if not isinstance(name, str) or ".." in name or not FILE_NAME.match(name):
            raise InvalidInput(f"文件名不允许：{shown}", {shown: f"只允许 *.bpmn、*.dmn、*.json 和 {FORM_DIR}*.json"})
        if not isinstance(text, str):
            raise InvalidInput(f"文件内容不是文本：{name}", {name: "不是文本"})
        if len(text.encode("utf-8", "surrogatepass")) > MAX_SOURCE_BYTES:
            raise InvalidInput(f"文件太大：{name}", {name: f"超过 {MAX_SOURCE_BYTES // 1024 // 1024} MB"})
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInput(f"文件 {name} 含有无效字符", {name: "含有无效字符"}) from None
        if name.endswith((".bpmn", ".dmn")) and _DTD.search(text):
            raise InvalidInput(f"文件 {name} 含有 DOCTYPE 或 ENTITY 声明，出于安全原因拒绝保存",
                               {name: "不允许 DOCTYPE / ENTITY 声明"})


def _problem_dict(p: ModelProblem) -> dict[str, Any]:
    return {"file": p.file, "element_id": p.element_id, "severity": p.severity, "code": p.code,
            "message": p.message, "line": p.line}


def _draft_view(d: ModelDraft) -> DraftView:
    problems = tuple(ModelProblem(p.get("file", "-"), p.get("element_id"), p.get("severity", "error"),
                                  p.get("code", ""), p.get("message", ""), p.get("line"))
                     for p in (d.problems or {}).get("items", ()))
    return DraftView(d.id, d.name, dict(d.files), d.author, d.updated_at, d.base_definition_id, problems,
                     d.created_at)


_LINE = re.compile(r"第 (\d+) 行")


def _code_of(message: str) -> str:
    if "XSD" in message or "Element '" in message:  # the schema's own messages name the element
        return "xsd"
    if "XML 格式错误" in message or "DOCTYPE" in message or "实体" in message:
        return "xml"
    if "重复" in message and "id" in message:
        return "duplicate-id"
    return "deploy"


def _validate(files: dict[str, str], groups: dict[str, str]) -> tuple[ModelProblem, ...]:
    problems: list[ModelProblem] = []
    raw = _deployable(files)
    for name, text in files.items():
        if name.endswith(".json") and not name.startswith(FORM_DIR):
            try:
                json.loads(text)
            except ValueError as exc:
                problems.append(ModelProblem(name, None, "error", "json", f"不是有效的 JSON：{exc}"))
    try:
        Validator(groups).bundles(raw)
    except DeployError as exc:
        for p in exc.problems:
            line = _LINE.search(p.message)
            problems.append(ModelProblem(p.file, p.element_id, "error", _code_of(p.message), p.message,
                                         int(line.group(1)) if line else None))
    seen = {(p.file, p.element_id, p.message) for p in problems}
    for name in sorted(raw):
        if not name.endswith(".bpmn"):
            continue
        try:
            root = parse_xml(raw[name], name)
        except UnsafeXML:
            continue  # reported by the deploy checks above
        for lp in model_lint.lint_bpmn(root):
            if (name, lp.element_id, lp.message) not in seen:
                problems.append(ModelProblem(name, lp.element_id, lp.severity, lp.code, lp.message))
    order = {"error": 0, "warning": 1}
    problems.sort(key=lambda p: (order.get(p.severity, 2), p.file, p.element_id or ""))
    return tuple(problems)


def _fingerprints(files: dict[str, str]) -> dict[str, model_lint.Fingerprint]:
    found: dict[str, model_lint.Fingerprint] = {}
    for name in sorted(files):
        if not name.endswith((".bpmn", ".dmn")):
            continue
        try:
            root = parse_xml(files[name], name)
        except UnsafeXML:
            continue
        prints = (model_lint.bpmn_fingerprints if name.endswith(".bpmn") else model_lint.dmn_fingerprints)(name, root)
        for fp in prints:
            key = fp.element_id if fp.element_id not in found else f"{name}#{fp.element_id}"
            found[key] = fp
    return found


def _change(fp: model_lint.Fingerprint, details: tuple[str, ...] = ()) -> ElementChange:
    return ElementChange(fp.element_id, model_lint.TYPE_NAMES.get(fp.element_type, fp.element_type), fp.name,
                         details, fp.file)


def _renamer(mapping: dict[str, str]):
    def rename(name: str) -> str:
        if name in mapping:
            return mapping[name]
        head, dot, tail = name.partition(".")
        if dot and head in mapping:  # a hidden helper spec of a renamed element (e.g. its boundary split)
            return f"{mapping[head]}.{tail}"
        return name
    return rename


def _retarget_state(state: str, archived: list[str], mapping: dict[str, str], old_wf, new) -> tuple[str, list[str]]:
    """The stored state and archive records with task specs renamed by ``mapping``, predicted
    tasks of removed elements dropped; :class:`_Blocked` when a live or finished task's element
    has no counterpart in the target version ``new`` (a loaded definition)."""
    rename = _renamer(mapping)
    envelope = json.loads(state)
    top = envelope["workflow"]
    names = {tid: _element_label(t) for tid, t in ((str(t.id), t) for t in old_wf.tasks.values())}
    for sub in old_wf.subprocesses.values():
        names.update({str(t.id): _element_label(t) for t in sub.tasks.values()})
    archived_dicts = [json.loads("{" + text + "}") for text in archived]
    top_ids = list(top["tasks"])
    top_tasks = dict(top["tasks"])
    for d in archived_dicts:
        top_tasks.update(d)
    scopes = [(new.spec.task_specs, top_tasks, "")]
    for sub_id, sub in (top.get("subprocesses") or {}).items():
        sub["spec"] = rename(sub["spec"])
        spec = new.subprocess_specs.get(sub["spec"])
        if spec is None:
            owner = names.get(sub_id, sub["spec"])
            if sub.get("completed"):
                raise _Blocked(f"已完成的子流程 {owner} 在目标版本中不存在，请在映射中指定对应元素")
            raise _Blocked(f"正在进行的子流程/调用活动 {owner} 在目标版本中不存在，请在映射中指定对应元素")
        scopes.append((spec.task_specs, sub["tasks"], sub_id))
    for specs, tasks, _scope in scopes:
        drop: set[str] = set()
        for tid, record in tasks.items():
            record["task_spec"] = rename(record["task_spec"])
            if record["task_spec"] in specs:
                continue
            label = names.get(tid, record["task_spec"])
            state_value = record["state"]
            if state_value & LIVE:
                raise _Blocked(f"当前步骤 {label} 在目标版本中不存在，请在映射中指定对应元素")
            if state_value & FINISHED:
                raise _Blocked(f"已执行的步骤 {label} 在目标版本中不存在，请在映射中指定对应元素")
            drop.add(tid)  # predicted only: predicted again from the new spec as the instance moves on
        if drop:
            _drop_predicted(tasks, drop)
    top["tasks"] = {tid: top_tasks[tid] for tid in top_ids if tid in top_tasks}
    new_archived = []
    for text, d in zip(archived, archived_dicts, strict=True):
        # a record that did not change keeps its text (the archive row stays byte-identical)
        new_archived.append(text if json.loads("{" + text + "}") == d else json.dumps(d, ensure_ascii=False, separators=(",", ":"))[1:-1])
    envelope["workflow"] = top
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")), new_archived


def _drop_predicted(tasks: dict[str, dict], drop: set[str]) -> None:
    """Remove predicted tasks and their (predicted) descendants from a task mapping."""
    pending = list(drop)
    gone: set[str] = set()
    while pending:
        tid = pending.pop()
        if tid in gone or tid not in tasks:
            continue
        gone.add(tid)
        pending.extend(tasks[tid].get("children") or ())
    for tid in gone:
        record = tasks.pop(tid, None)
        parent = tasks.get(record.get("parent")) if record else None
        if parent is not None:
            parent["children"] = [c for c in parent["children"] if c not in gone]


def _repredict(workflow) -> None:
    """Predict again, from the target version's spec, what follows each active or waiting task.

    The stored state carries the tasks the old version predicted (the chain of FUTURE tasks
    after an open task). The library re-predicts only uncertain (LIKELY/MAYBE) tasks when a
    task completes, so a FUTURE chain from the old version would be followed as it was: each
    not-yet-run task whose spec no longer leads there is removed, and the outputs the new spec
    adds are predicted in its place, down the chain.
    """
    from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask

    soft = TaskState.FUTURE | TaskState.LIKELY | TaskState.MAYBE
    for scope in (workflow, *workflow.subprocesses.values()):
        # (task, specs on the predicted path so far, uncertain levels so far): a path stops where
        # its spec repeats (a loop), and after as many uncertain levels as the library looks ahead
        queue = [(t, frozenset(), 0) for t in scope.tasks.values() if t.state & LIVE]
        done: set = set()
        while queue:
            task, path, unsure = queue.pop()
            if task.id in done or task.id not in scope.tasks:
                continue
            done.add(task.id)
            spec = task.task_spec
            if isinstance(spec, LoopTask) or len(path) > MAX_PREDICTION_DEPTH:
                continue
            path = path | {spec}
            outputs = list(spec.outputs)
            for child in list(task.children):
                if child.state & soft and not child.triggered and child.task_spec not in outputs:
                    scope._remove_task(child.id)
            if any(output not in {c.task_spec for c in task.children} for output in outputs):
                spec._predict_hook(task)  # the spec's own rule: FUTURE after a definite task, MAYBE after a choice
            for child in task.children:
                if not child.state & soft or child.task_spec in path:
                    continue
                level = unsure + (0 if child.state & TaskState.FUTURE else 1)
                if level <= getattr(child.task_spec, "lookahead", 2):
                    queue.append((child, path, level))


def _element_label(task) -> str:
    spec = task.task_spec
    bpmn_id = getattr(spec, "bpmn_id", None) or spec.name
    name = getattr(spec, "bpmn_name", None)
    return f"「{name}」({bpmn_id})" if name else bpmn_id

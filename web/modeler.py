"""The process modeler: definitions and versions, diff, the BPMN/DMN/form editor, deploy, migration, scenarios.

Every page and endpoint is for process analysts (role ``analyst``) and admins: anonymous
users are sent to log in, everyone else gets 403. Pages post forms with the CSRF token;
the editor's JSON endpoints send it in the ``X-CSRFToken`` header. Each view parses its
input, makes one engine call, then renders or answers JSON.
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
import zipfile
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user

from engine import DeployError, InvalidInput
from tasks import registry
from web import schema_form
from web.auth import current_actor

bp = Blueprint("modeler", __name__, url_prefix="/modeler")

ROLES = frozenset({"analyst", "admin"})
FILE_NAME = re.compile(r"^(?:forms/)?[A-Za-z0-9_\-][A-Za-z0-9_.\-]{0,120}\.(?:bpmn|dmn|json)$")
MAX_FILES = 400
MAX_FILE_CHARS = 2 * 1024 * 1024
HOSTILE_XML = re.compile(r"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)
SCENARIO_SUFFIX = ".scenarios.json"


def _engine():
    return current_app.extensions["paigong"]


@bp.before_request
def _analysts_only():
    """Log in first; then only the analyst and admin roles pass."""
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()
    if not (current_actor().roles & ROLES):
        abort(403)


@bp.after_request
def _editor_styles(response):
    """The editor page lets the decision-table library set inline styles (it positions cells and
    menus through style attributes); scripts stay limited to our own files."""
    if request.endpoint == "modeler.editor":
        from web.security import CSP

        response.headers["Content-Security-Policy"] = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
    return response


# -- helpers -----------------------------------------------------------------------------


def plain(value: Any) -> Any:
    """A frozen engine view (dataclasses, tuples, datetimes) as JSON-ready data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if hasattr(value, "_asdict"):
        return plain(value._asdict())
    return value


def problem_rows(problems) -> list[dict[str, Any]]:
    """Problems of the engine (deploy problems or model problems) as uniform rows."""
    rows = []
    for p in problems or ():
        rows.append({
            "file": getattr(p, "file", "-") or "-",
            "element_id": getattr(p, "element_id", None),
            "severity": getattr(p, "severity", "error") or "error",
            "code": getattr(p, "code", None) or "",
            "message": getattr(p, "message", str(p)),
        })
    return rows


def checked_files(raw: Any) -> dict[str, str]:
    """The editor's files, refused as a whole (400, naming the file) when any is unacceptable.

    :raises InvalidInput: not a mapping of allowed file names to text, too many or too large,
        or XML with a document type or entity declaration
    """
    if not isinstance(raw, dict) or not raw:
        raise InvalidInput(gettext("没有文件"), {"files": gettext("没有文件")})
    if len(raw) > MAX_FILES:
        raise InvalidInput(gettext("文件太多"), {"files": gettext("最多 %(n)s 个文件", n=MAX_FILES)})
    files: dict[str, str] = {}
    for name, text in raw.items():
        if not isinstance(name, str) or ".." in name or not FILE_NAME.match(name):
            shown = str(name)[:80]
            raise InvalidInput(gettext("文件名不允许：%(name)s", name=shown),
                               {shown: gettext("只允许 *.bpmn、*.dmn、*.json 和 forms/*.json")})
        if not isinstance(text, str):
            raise InvalidInput(gettext("文件内容不是文本：%(name)s", name=name), {name: gettext("不是文本")})
        if len(text) > MAX_FILE_CHARS:
            raise InvalidInput(gettext("文件太大：%(name)s", name=name), {name: gettext("超过 2 MB")})
        if name.endswith((".bpmn", ".dmn")) and HOSTILE_XML.search(text):
            raise InvalidInput(gettext("文件 %(name)s 含有 DOCTYPE 或 ENTITY 声明，出于安全原因拒绝保存", name=name),
                               {name: gettext("不允许 DOCTYPE / ENTITY 声明")})
        files[name] = text
    return files


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidInput(gettext("请求内容不是 JSON 对象"))
    return body


def _deploy_rows(result) -> dict[str, Any]:
    return {"deployed": plain(getattr(result, "deployed", ())), "unchanged": plain(getattr(result, "unchanged", ()))}


def _catalog():
    return _engine().process_catalog()


def _find_version(definition_id: int):
    """(process summary, version row) of a definition id.

    :raises NotFound: no such definition
    """
    for process in _catalog():
        for version in process.versions:
            if version.definition_id == definition_id:
                return process, version
    from engine import NotFound

    raise NotFound(gettext("找不到流程版本 %(id)s", id=definition_id))


def main_bpmn(sources: dict[str, str], process_id: str) -> str | None:
    """The .bpmn file among ``sources`` that holds ``process_id``."""
    bpmns = [n for n in sorted(sources) if n.endswith(".bpmn")]
    for name in bpmns:
        if re.search(r'<(?:\w+:)?process\b[^>]*\bid="' + re.escape(process_id) + '"', sources[name]):
            return name
    return bpmns[0] if bpmns else None


def operators() -> list[dict[str, Any]]:
    out = []
    for name in registry.names():
        op = registry.get(name)
        out.append({"name": name, "description": op.description, "params": list(op.params),
                    "required": list(op.required)})
    return out


# -- definitions -------------------------------------------------------------------------


@bp.get("/")
def index():
    """Every process with its versions (deployer, time, instances on each) and the saved drafts."""
    engine = _engine()
    return render_template("modeler/index.html", catalog=engine.process_catalog(), drafts=engine.model_drafts())


@bp.get("/definitions/<int:definition_id>")
def version(definition_id: int):
    """One version read-only: its diagram and its files."""
    process, row = _find_version(definition_id)
    sources = _engine().definition_sources(definition_id)
    return render_template("modeler/version.html", process=process, row=row, files=sorted(sources),
                           main=main_bpmn(sources, process.process_id))


@bp.get("/definitions/<int:definition_id>/sources.json")
def sources_json(definition_id: int):
    process, row = _find_version(definition_id)
    sources = _engine().definition_sources(definition_id)
    return jsonify(files=sources, process_id=process.process_id, version=row.version,
                   main=main_bpmn(sources, process.process_id))


@bp.get("/definitions/<int:definition_id>/files/<path:name>")
def download(definition_id: int, name: str):
    sources = _engine().definition_sources(definition_id)
    if name not in sources:
        abort(404)
    kind = "application/json" if name.endswith(".json") else "application/xml"
    return Response(sources[name], mimetype=kind, headers={
        "Content-Disposition": f"attachment; filename={name.rsplit('/', 1)[-1]}"})


@bp.get("/definitions/<int:definition_id>/files.zip")
def download_zip(definition_id: int):
    process, row = _find_version(definition_id)
    sources = _engine().definition_sources(definition_id)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in sorted(sources.items()):
            archive.writestr(name, text)
    filename = f"{process.process_id}-v{row.version}.zip"
    return Response(buffer.getvalue(), mimetype="application/zip",
                    headers={"Content-Disposition": f"attachment; filename={filename}"})


@bp.get("/diff")
def diff():
    """Two versions of one process compared: elements added, removed and changed."""
    catalog = _catalog()
    versions = [(p, v) for p in catalog for v in p.versions]
    try:
        from_id = int(request.args.get("from") or 0)
        to_id = int(request.args.get("to") or 0)
    except ValueError:
        from_id = to_id = 0
    result = None
    pair = None
    if from_id and to_id:
        (p_from, v_from), (p_to, v_to) = _find_version(from_id), _find_version(to_id)
        result = _engine().diff_definitions(from_id, to_id)
        pair = (p_from, v_from, p_to, v_to)
    return render_template("modeler/diff.html", catalog=catalog, versions=versions, from_id=from_id, to_id=to_id,
                           result=result, pair=pair)


# -- the editor --------------------------------------------------------------------------


@bp.get("/edit")
def editor():
    """The editor: the deployed workspace, one version (``?definition=``) or a draft (``?draft=``)."""
    engine = _engine()
    source = {"kind": "workspace", "url": url_for("modeler.workspace_json")}
    title = gettext("全部已部署流程")
    if request.args.get("draft"):
        draft_id = request.args.get("draft", type=int) or 0
        draft = engine.model_draft(draft_id)
        source = {"kind": "draft", "url": url_for("modeler.draft_json", draft_id=draft_id), "draft_id": draft_id}
        title = gettext("草稿：%(name)s", name=draft.name)
    elif request.args.get("definition"):
        definition_id = request.args.get("definition", type=int) or 0
        process, row = _find_version(definition_id)
        source = {"kind": "definition", "url": url_for("modeler.sources_json", definition_id=definition_id),
                  "definition_id": definition_id}
        title = f"{process.name} v{row.version}"
    config = {
        "source": source,
        "open": request.args.get("file") or "",
        "operators": operators(),
        "groups": [{"id": gid, "name": name} for gid, name in sorted(engine.groups().items())],
        "urls": {"save": url_for("modeler.save_draft"), "validate": url_for("modeler.validate"),
                 "deploy": url_for("modeler.deploy"), "preview": url_for("modeler.form_preview"),
                 "index": url_for("modeler.index"), "editor": url_for("modeler.editor")},
        "can_deploy": True,
    }
    return render_template("modeler/editor.html", config=config, title=title)


@bp.get("/workspace.json")
def workspace_json():
    return jsonify(files=_engine().workspace_files(), name="", base_definition_id=None, draft_id=None)


@bp.get("/drafts/<int:draft_id>.json")
def draft_json(draft_id: int):
    draft = _engine().model_draft(draft_id)
    return jsonify(files=dict(draft.files), name=draft.name, base_definition_id=draft.base_definition_id,
                   draft_id=draft.id, problems=problem_rows(getattr(draft, "problems", ())))


@bp.post("/drafts")
def save_draft():
    """Save the editor's files as a draft (never deployed); answers the draft and its problems."""
    body = _json_body()
    files = checked_files(body.get("files"))
    name = str(body.get("name") or "").strip()[:200] or gettext("未命名草稿")
    base = body.get("base_definition_id")
    base = base if isinstance(base, int) and not isinstance(base, bool) else None
    draft_id = body.get("draft_id")
    draft_id = draft_id if isinstance(draft_id, int) and not isinstance(draft_id, bool) else None
    if draft_id is not None:
        _engine().model_draft(draft_id)  # 404 for a draft deleted meanwhile
    draft = _engine().save_model_draft(name, files, current_actor(), base_definition_id=base, draft_id=draft_id)
    return jsonify(draft={"id": draft.id, "name": draft.name, "author": draft.author,
                          "updated_at": plain(draft.updated_at), "base_definition_id": draft.base_definition_id},
                   problems=problem_rows(draft.problems),
                   url=url_for("modeler.editor", draft=draft.id))


@bp.post("/drafts/<int:draft_id>/delete")
def delete_draft(draft_id: int):
    from flask import flash, redirect

    _engine().delete_model_draft(draft_id, current_actor())
    flash(gettext("草稿已删除"), "success")
    return redirect(url_for("modeler.index"))


@bp.post("/validate")
def validate():
    files = checked_files(_json_body().get("files"))
    return jsonify(problems=problem_rows(_engine().validate_model(files)))


@bp.post("/deploy")
def deploy():
    """Deploy the editor's files as new versions; 422 with the problems when refused."""
    files = checked_files(_json_body().get("files"))
    try:
        result = _engine().deploy_model(files, current_actor())
    except DeployError as exc:
        return jsonify(error=gettext("部署被拒绝"), problems=problem_rows(exc.problems)), 422
    return jsonify(_deploy_rows(result))


@bp.post("/form-preview")
def form_preview():
    """The form as the task page renders it (same fields, same template)."""
    body = _json_body()
    schema = body.get("schema")
    if not isinstance(schema, dict):
        raise InvalidInput(gettext("表单不是 JSON 对象"), {"schema": gettext("表单不是 JSON 对象")})
    fields = schema_form.build(schema, {}, {})
    return render_template("modeler/_preview.html", fields=fields, schema=schema)


# -- migration ---------------------------------------------------------------------------


def parse_mapping(text: str) -> dict[str, str]:
    """``old_id = new_id`` (or ``old_id -> new_id``) per line.

    :raises InvalidInput: a line that is not a pair of element ids
    """
    mapping = {}
    for number, line in enumerate((text or "").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = re.split(r"\s*(?:->|=|→)\s*", line)
        if len(parts) != 2 or not all(re.match(r"^[A-Za-z_][\w.\-]{0,127}$", p) for p in parts):
            raise InvalidInput(gettext("映射第 %(n)s 行格式不对", n=number),
                               {"mapping": gettext("第 %(n)s 行应为 旧元素ID = 新元素ID", n=number)})
        mapping[parts[0]] = parts[1]
    return mapping


def parse_ids(values) -> list[int]:
    ids = []
    for value in values:
        for piece in re.split(r"[\s,，]+", value or ""):
            if piece.isdigit():
                ids.append(int(piece))
    return list(dict.fromkeys(ids))[:5000]


def migration_filter(form) -> dict[str, Any] | None:
    """The optional instance filter (business key prefix, status, current element)."""
    found = {}
    for key, size in (("business_key", 64), ("status", 16), ("element_id", 128)):
        value = (form.get(f"filter_{key}") or "").strip()[:size]
        if value:
            found[key] = value
    return found or None


@bp.route("/migrate", methods=["GET", "POST"])
def migrate():
    """Compatibility check, then move one, a selection, or all instances; each move is logged by the engine."""
    engine = _engine()
    catalog = engine.process_catalog()
    form = request.form if request.method == "POST" else request.args
    args = {"from_id": form.get("from_id", type=int), "to_id": form.get("to_id", type=int),
            "mapping": form.get("mapping", ""), "instance_ids": form.get("instance_ids", ""),
            "filter": {k: form.get(f"filter_{k}", "") for k in ("business_key", "status", "element_id")}}
    plan = report = None
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        action = request.form.get("action", "check")
        try:
            if not args["from_id"] or not args["to_id"]:
                raise InvalidInput(gettext("请选择源版本和目标版本"), {"to_id": gettext("请选择源版本和目标版本")})
            mapping = parse_mapping(args["mapping"]) or None
            flt = migration_filter(request.form)
            if action == "check":
                ids = parse_ids([args["instance_ids"]]) or None
                plan = engine.migration_plan(args["from_id"], args["to_id"], mapping=mapping, instance_ids=ids,
                                             filter=flt)
            else:
                ids = None if action == "migrate_all" else (parse_ids(request.form.getlist("selected"))
                                                            or parse_ids([args["instance_ids"]]))
                if action != "migrate_all" and not ids:
                    raise InvalidInput(gettext("没有选择要迁移的实例"), {"selected": gettext("请勾选实例")})
                report = engine.migrate_instances(args["from_id"], args["to_id"], current_actor(), mapping=mapping,
                                                  instance_ids=ids, filter=flt if action == "migrate_all" else None)
        except InvalidInput as exc:
            errors, status = dict(exc.fields) or {"-": exc.message}, 400
    return render_template("modeler/migrate.html", catalog=catalog, args=args, plan=plan, report=report,
                           errors=errors), status


# -- scenarios ---------------------------------------------------------------------------


def scenario_files(files: dict[str, str]) -> list[str]:
    return sorted(n for n in files if n.endswith(SCENARIO_SUFFIX))


@bp.route("/scenarios", methods=["GET", "POST"])
def scenarios():
    """Run the scenario files beside the processes (workspace, a version or a draft) against their models."""
    engine = _engine()
    form = request.form if request.method == "POST" else request.args
    draft_id = form.get("draft", type=int)
    definition_id = form.get("definition", type=int)
    if draft_id:
        files = dict(engine.model_draft(draft_id).files)
    elif definition_id:
        files = engine.definition_sources(definition_id)
    else:
        files = engine.workspace_files()
    available = scenario_files(files)
    results = None
    errors: dict[str, str] = {}
    chosen = form.getlist("file") or available
    status = 200
    if request.method == "POST":
        pasted = (request.form.get("pasted") or "").strip()
        try:
            suites: list[tuple[str, Any]] = []
            for name in chosen:
                if name not in files:
                    raise InvalidInput(gettext("没有场景文件 %(name)s", name=name), {name: gettext("不存在")})
                suites.append((name, _scenario_json(name, files[name])))
            if pasted:
                suites.append((gettext("粘贴的场景"), _scenario_json(gettext("粘贴的场景"), pasted)))
            if not suites:
                raise InvalidInput(gettext("没有可运行的场景"), {"file": gettext("请选择场景文件或粘贴场景")})
            results = []
            for name, suite in suites:
                for result in engine.run_model_scenarios(files, suite):
                    results.append((name, result))
        except InvalidInput as exc:
            errors, status = dict(exc.fields) or {"-": exc.message}, 400
    return render_template("modeler/scenarios.html", available=available, chosen=chosen, results=results,
                           errors=errors, draft_id=draft_id, definition_id=definition_id,
                           drafts=engine.model_drafts(), catalog=engine.process_catalog(),
                           pasted=request.form.get("pasted", "")), status


def _scenario_json(name: str, text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise InvalidInput(gettext("场景文件 %(name)s 不是有效的 JSON", name=name),
                           {name: gettext("JSON 格式错误：%(err)s", err=str(exc)[:200])}) from None

"""The JSON-Schema forms in ``workflows/forms/`` and the user tasks that name them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from lxml import etree

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"
FORMS = WORKFLOWS / "forms"
FORM_FILES = sorted(FORMS.glob("*.json"))
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
CHINESE = re.compile(r"[\u4e00-\u9fff]")


def referenced_forms() -> list[tuple[str, str, str]]:
    """(bpmn file, element id, form file) for every user task naming a form."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    refs = []
    for path in sorted(WORKFLOWS.glob("*.bpmn")):
        root = etree.parse(str(path), parser).getroot()
        for prop in root.iter(f"{{{SPIFF}}}property"):
            if prop.get("name") == "formJsonSchemaFilename":
                owner = next(a for a in prop.iterancestors() if a.get("id") is not None)
                form = prop.get("value") or ""
                refs.append((path.name, owner.get("id"), form.removeprefix("forms/")))
    return refs


REFERENCES = referenced_forms()


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def properties_of(schema: dict, path: str = ""):
    """Yield (dotted path, property schema) for every property, nested objects and array items included."""
    for name, prop in schema.get("properties", {}).items():
        here = f"{path}{name}"
        yield here, prop
        yield from properties_of(prop, here + ".")
        if isinstance(prop.get("items"), dict):
            yield from properties_of(prop["items"], here + "[].")


@pytest.fixture(params=FORM_FILES, ids=[p.name for p in FORM_FILES])
def form(request) -> tuple[str, dict]:
    return request.param.name, load(request.param)


@pytest.mark.parametrize(("bpmn", "element", "form_file"), REFERENCES, ids=[f"{r[0]}:{r[1]}" for r in REFERENCES])
def test_every_referenced_form_exists(bpmn, element, form_file):
    assert (FORMS / form_file).is_file(), f"{bpmn} {element} names missing form {form_file}"


def test_every_form_file_is_used_by_a_workflow():
    assert sorted({p.name for p in FORM_FILES} - {r[2] for r in REFERENCES}) == []


def test_form_is_a_valid_draft_2020_12_object_schema_with_a_chinese_title(form):
    name, schema = form
    Draft202012Validator.check_schema(schema)
    assert schema.get("$schema") == DRAFT_2020_12
    assert schema.get("type") == "object"
    assert CHINESE.search(schema.get("title", "")), f"{name} needs a Chinese title"
    assert set(schema.get("required", [])) <= set(schema.get("properties", {}))


def test_every_property_has_a_chinese_title(form):
    name, schema = form
    untitled = [path for path, prop in properties_of(schema) if not CHINESE.search(prop.get("title", ""))]
    assert untitled == [], f"{name}: properties without a Chinese title"


def test_every_enum_has_one_chinese_label_per_value(form):
    name, schema = form
    for path, prop in properties_of(schema):
        if "enum" not in prop:
            continue
        labels = prop.get("x-enum-labels")
        assert isinstance(labels, list) and len(labels) == len(prop["enum"]), f"{name} {path}: x-enum-labels"
        assert all(isinstance(label, str) and CHINESE.search(label) for label in labels), f"{name} {path}"


def test_free_text_fields_have_a_maximum_length(form):
    name, schema = form
    unbounded = [
        path
        for path, prop in properties_of(schema)
        if prop.get("type") == "string" and not {"enum", "const", "format"} & set(prop) and "maxLength" not in prop
    ]
    assert unbounded == [], f"{name}: string fields without maxLength"


def test_ui_hints_and_context_are_well_formed(form):
    name, schema = form
    context = schema.get("x-context", [])
    assert isinstance(context, list) and all(isinstance(k, str) and k for k in context), name
    assert len(context) == len(set(context)), f"{name}: duplicate x-context keys"
    for path, prop in properties_of(schema):
        hint = prop.get("x-ui")
        if hint is not None:
            assert isinstance(hint, dict) and isinstance(hint.get("widget"), str), f"{name} {path}: x-ui"

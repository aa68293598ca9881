"""Each ``workflows/*.bpmn`` renders in a real browser with bpmn-js: no import warning, no two shapes overlap.

Uses the bpmn-js viewer from ``node_modules`` (npm, see package.json) and Debian's chromium
through Playwright, like the browser tests; skipped when either is missing (failed under CI).
A screenshot of each diagram is written to the test's temporary directory.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parents[2]
VIEWER = ROOT / "node_modules" / "bpmn-js" / "dist" / "bpmn-navigated-viewer.production.min.js"
CHROMIUM = "/usr/bin/chromium"
BPMN_FILES = sorted((ROOT / "workflows").glob("*.bpmn"))

# Rendered boxes of every flow-node shape, with what may legitimately overlap it: the
# subprocess it sits in, the host of a boundary event and the boundary events of a host.
RENDER = """async (xml) => {
  const viewer = new BpmnJS({container: '#canvas'});
  const {warnings} = await viewer.importXML(xml);
  viewer.get('canvas').zoom('fit-viewport');
  const registry = viewer.get('elementRegistry');
  const shapes = registry.filter(e => e.type !== 'label' && e.waypoints === undefined
      && !['bpmn:Lane', 'bpmn:Participant', 'bpmn:Process', 'bpmn:Collaboration'].includes(e.type)
      && e.parent);
  return {
    warnings: warnings.map(w => w.message),
    shapes: shapes.map(e => {
      const r = registry.getGraphics(e).querySelector('.djs-visual').getBoundingClientRect();
      return {id: e.id, x: r.x, y: r.y, w: r.width, h: r.height,
              parent: e.parent && e.parent.type === 'bpmn:SubProcess' ? e.parent.id : null,
              host: e.host ? e.host.id : null};
    }),
  };
}"""


def _browser():
    reason = None
    if not VIEWER.exists():
        reason = "bpmn-js is not installed (npm install)"
    elif not os.path.exists(CHROMIUM):
        reason = f"{CHROMIUM} not installed"
    else:
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            reason = "playwright not installed"
    if reason:
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    return sync_playwright


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    sync_playwright = _browser()
    folder = tmp_path_factory.mktemp("render")
    html = folder / "viewer.html"
    html.write_text(f'<html><head><meta charset="utf-8"><script src="{VIEWER.as_uri()}"></script>'
                    '<style>html,body,#canvas{margin:0;width:100%;height:100%}</style></head>'
                    '<body><div id="canvas"></div></body></html>', encoding="utf-8")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--headless"])
        tab = browser.new_page(viewport={"width": 2400, "height": 1400})
        tab.folder = folder
        tab.html = html.as_uri()
        yield tab
        browser.close()


def overlaps(a: dict, b: dict) -> bool:
    return a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"] and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"]


@pytest.mark.parametrize("path", BPMN_FILES, ids=[p.name for p in BPMN_FILES])
def test_the_diagram_renders_without_warnings_or_overlapping_shapes(page, path):
    page.goto(page.html)
    result = page.evaluate(RENDER, path.read_text(encoding="utf-8"))
    page.screenshot(path=str(page.folder / f"{path.stem}.png"))
    assert result["warnings"] == []
    shapes = result["shapes"]
    assert shapes, "nothing was drawn"
    clashes = []
    for i, a in enumerate(shapes):
        for b in shapes[i + 1:]:
            related = a["id"] in (b["parent"], b["host"]) or b["id"] in (a["parent"], a["host"])
            if not related and overlaps(a, b):
                clashes.append(f"{a['id']} / {b['id']}")
    assert clashes == []

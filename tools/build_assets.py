#!/usr/bin/env python3
"""Copy the front-end packages installed by npm into web/static/vendor/ and compile translations.

Run by ``make assets`` after ``npm ci``. Pages load these files from our own server; nothing
is fetched from a CDN. The vendor folder is generated (git-ignored): delete it freely.
"""

from __future__ import annotations

import os
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NODE = os.path.join(ROOT, "node_modules")
VENDOR = os.path.join(ROOT, "web", "static", "vendor")

# (source below node_modules, target below web/static/vendor); a directory is copied whole.
ASSETS = [
    ("bpmn-js/dist/bpmn-navigated-viewer.production.min.js", "bpmn-navigated-viewer.production.min.js"),
    ("bpmn-js/dist/assets/diagram-js.css", "assets/diagram-js.css"),
    ("bpmn-js/dist/assets/bpmn-js.css", "assets/bpmn-js.css"),
    ("bpmn-js/dist/assets/bpmn-font", "assets/bpmn-font"),
    ("bpmn-js/LICENSE", "LICENSE.bpmn-js"),
    # the process editor (modeler pages)
    ("bpmn-js/dist/bpmn-modeler.production.min.js", "bpmn-modeler.production.min.js"),
    ("dmn-js/dist/dmn-modeler.production.min.js", "dmn-modeler.production.min.js"),
    ("dmn-js/dist/assets/diagram-js.css", "dmn/diagram-js.css"),
    ("dmn-js/dist/assets/dmn-js-shared.css", "dmn/dmn-js-shared.css"),
    ("dmn-js/dist/assets/dmn-js-drd.css", "dmn/dmn-js-drd.css"),
    ("dmn-js/dist/assets/dmn-js-decision-table.css", "dmn/dmn-js-decision-table.css"),
    ("dmn-js/dist/assets/dmn-js-decision-table-controls.css", "dmn/dmn-js-decision-table-controls.css"),
    ("dmn-js/dist/assets/dmn-js-literal-expression.css", "dmn/dmn-js-literal-expression.css"),
    ("dmn-js/dist/assets/dmn-js-boxed-expression.css", "dmn/dmn-js-boxed-expression.css"),
    ("dmn-js/dist/assets/dmn-js-boxed-expression-controls.css", "dmn/dmn-js-boxed-expression-controls.css"),
    ("dmn-js/dist/assets/dmn-font", "dmn/dmn-font"),
    ("dmn-js/LICENSE", "LICENSE.dmn-js"),
]


def copy_assets() -> int:
    missing = [src for src, _ in ASSETS if not os.path.exists(os.path.join(NODE, src))]
    if missing:
        print("缺少前端包（请先运行 npm ci）: " + ", ".join(missing), file=sys.stderr)
        return 1
    for src, dst in ASSETS:
        source, target = os.path.join(NODE, src), os.path.join(VENDOR, dst)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.path.isdir(source):
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(source, target)
        else:
            shutil.copy2(source, target)
    print(f"前端资源已复制到 {os.path.relpath(VENDOR, ROOT)}/ ({len(ASSETS)} 项)")
    return 0


def compile_translations() -> None:
    sys.path.insert(0, ROOT)
    from web.i18n import SOURCE_DIR, compile_catalogs

    target = os.environ.get("PAIGONG_TRANSLATIONS_BUILD_DIR") or os.path.join(ROOT, "instance", "translations")
    written = compile_catalogs(SOURCE_DIR, target)
    print(f"翻译已编译: {len(written)} 个目录更新")


if __name__ == "__main__":
    status = copy_assets()
    compile_translations()
    sys.exit(status)

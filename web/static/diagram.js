// The work order's BPMN diagram (bpmn-js navigated viewer, served from /static/vendor/).
(function () {
  "use strict";
  var box = document.getElementById("diagram");
  if (!box || typeof window.BpmnJS !== "function") { return; }
  var viewer = new window.BpmnJS({ container: box });
  fetch(box.getAttribute("data-src"), { credentials: "same-origin", headers: { "Accept": "application/json" } })
    .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
    .then(function (d) {
      return viewer.importXML(d.xml).then(function () {
        var canvas = viewer.get("canvas");
        var registry = viewer.get("elementRegistry");
        var mark = function (ids, cls) {
          (ids || []).forEach(function (id) {
            var el = registry.get(id);
            if (el) {
              canvas.addMarker(id, cls);
              if (el.type === "bpmn:SubProcess") { canvas.addMarker(id, "pg-subprocess"); }
            }
          });
        };
        mark(d.completed, "pg-done");
        mark(d.active, "pg-active");
        mark(d.failed, "pg-failed");
        canvas.zoom("fit-viewport");
        // on a phone the whole process is too small to read: show the current step up close
        var first = (d.active || []).map(function (id) { return registry.get(id); }).filter(function (el) {
          return el && el.type !== "bpmn:SubProcess" && el.type !== "bpmn:Process";
        })[0];
        if (first && canvas.viewbox().scale < 0.35) {
          var scale = 0.7, w = box.clientWidth / scale, h = box.clientHeight / scale;
          canvas.viewbox({ x: first.x + first.width / 2 - w / 2, y: first.y + first.height / 2 - h / 2,
                           width: w, height: h });
        }
        box.setAttribute("data-ready", "1");
      });
    })
    .catch(function () {
      box.textContent = box.getAttribute("data-error") || "流程图无法显示";
      box.setAttribute("data-ready", "error");
    });
})();

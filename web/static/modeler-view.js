// Read-only diagrams of the modeler pages: one version, or two versions with the diff coloured.
(function () {
  "use strict";
  if (typeof window.BpmnJS !== "function") { return; }
  var rows = Array.prototype.slice.call(document.querySelectorAll("tr[data-kind][data-element]"));
  var marks = { from: { removed: "pg-diff-removed", changed: "pg-diff-changed" },
                to: { added: "pg-diff-added", changed: "pg-diff-changed" } };

  function show(box) {
    var viewer = new window.BpmnJS({ container: box });
    fetch(box.getAttribute("data-src"), { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (d) {
        var xml = d.files[d.main];
        if (!xml) { throw new Error("no diagram"); }
        return viewer.importXML(xml).then(function () {
          var canvas = viewer.get("canvas"), registry = viewer.get("elementRegistry");
          var side = box.getAttribute("data-side");
          var colours = side ? marks[side] : {};
          var marked = 0;
          rows.forEach(function (row) {
            var cls = colours[row.getAttribute("data-kind")], id = row.getAttribute("data-element");
            if (cls && registry.get(id)) { canvas.addMarker(id, cls); marked += 1; }
          });
          canvas.zoom("fit-viewport");
          box.setAttribute("data-marked", String(marked));
          box.setAttribute("data-ready", "1");
        });
      })
      .catch(function () {
        box.textContent = box.getAttribute("data-error") || "流程图无法显示";
        box.setAttribute("data-ready", "error");
      });
  }

  document.querySelectorAll("#pg-viewer, .diff-viewer").forEach(show);
})();

// paigong admin console: selection, confirmations, variable editing, diagrams with run counts and the heatmap.
(function () {
  "use strict";

  document.querySelectorAll("[data-select-all]").forEach(function (box) {
    var name = box.getAttribute("data-select-all");
    box.addEventListener("change", function () {
      var form = box.form || document;
      form.querySelectorAll("input[type=checkbox][name='" + name + "']").forEach(function (c) { c.checked = box.checked; });
    });
  });

  document.querySelectorAll("[data-confirm]").forEach(function (button) {
    button.addEventListener("click", function (ev) {
      if (!window.confirm(button.getAttribute("data-confirm"))) { ev.preventDefault(); }
    });
  });

  document.querySelectorAll(".edit-var").forEach(function (button) {
    button.addEventListener("click", function () {
      var form = document.getElementById("var-form");
      if (!form) { return; }
      form.querySelector("[name=name]").value = button.getAttribute("data-name");
      form.querySelector("[name=value]").value = button.getAttribute("data-value");
      form.scrollIntoView({ block: "center" });
      form.querySelector("[name=value]").focus();
    });
  });

  function viewer(box) {
    if (!box || typeof window.BpmnJS !== "function") { return null; }
    return new window.BpmnJS({ container: box });
  }

  function failed(box) {
    box.textContent = box.getAttribute("data-error") || "流程图无法显示";
    box.setAttribute("data-ready", "error");
  }

  function badge(text, cls) {
    var el = document.createElement("div");
    el.className = cls;
    el.textContent = text;
    return el;
  }

  // One instance: completed, active and failed elements marked, and how many times each ran.
  var diagramBox = document.getElementById("admin-diagram");
  var instanceViewer = viewer(diagramBox);
  if (instanceViewer) {
    fetch(diagramBox.getAttribute("data-src"), { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (d) {
        return instanceViewer.importXML(d.xml).then(function () {
          var canvas = instanceViewer.get("canvas");
          var registry = instanceViewer.get("elementRegistry");
          var overlays = instanceViewer.get("overlays");
          var mark = function (ids, cls) {
            (ids || []).forEach(function (id) {
              var el = registry.get(id);
              if (!el) { return; }
              canvas.addMarker(id, cls);
              if (el.type === "bpmn:SubProcess") { canvas.addMarker(id, "pg-subprocess"); }
            });
          };
          mark(d.completed, "pg-done");
          mark(d.active, "pg-active");
          mark(d.failed, "pg-failed");
          Object.keys(d.counts || {}).forEach(function (id) {
            if (registry.get(id)) {
              overlays.add(id, { position: { top: -10, right: 10 }, html: badge(String(d.counts[id]), "run-count") });
            }
          });
          canvas.zoom("fit-viewport");
          diagramBox.setAttribute("data-ready", "1");
        });
      })
      .catch(function () { failed(diagramBox); });
  }

  // A process version: elements coloured by how often they ran, labelled with passes and mean time.
  var heatBox = document.getElementById("heatmap");
  var heatViewer = viewer(heatBox);
  var heatData = document.getElementById("heatmap-data");
  if (heatViewer && heatData) {
    var data = JSON.parse(heatData.textContent);
    heatViewer.importXML(data.xml).then(function () {
      var canvas = heatViewer.get("canvas");
      var registry = heatViewer.get("elementRegistry");
      var overlays = heatViewer.get("overlays");
      data.elements.forEach(function (e) {
        if (!registry.get(e.id)) { return; }
        canvas.addMarker(e.id, "pg-heat-" + e.level);
        var text = String(e.passes) + (e.mean ? " · " + e.mean : "");
        overlays.add(e.id, { position: { bottom: 0, left: 0 }, html: badge(text, "heat-label") });
      });
      canvas.zoom("fit-viewport");
      heatBox.setAttribute("data-ready", "1");
    }).catch(function () { failed(heatBox); });
  }
})();

// The process editor: bpmn-js Modeler with our own properties sidebar, dmn-js for decision tables,
// a JSON-Schema form editor with the task page's own rendering as preview, save/validate/deploy.
(function () {
  "use strict";
  var root = document.getElementById("modeler");
  var cfgNode = document.getElementById("modeler-config");
  if (!root || !cfgNode || typeof window.BpmnJS !== "function") { return; }
  var cfg = JSON.parse(cfgNode.textContent);
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  var $ = function (id) { return document.getElementById(id); };

  var state = {
    files: {}, current: null, kind: null, problems: [], marked: [], modified: {},
    baseDefinitionId: null, draftId: null, formTimer: null
  };

  var bpmnBox = $("bpmn-canvas"), dmnBox = $("dmn-canvas"), formBox = $("form-editor");
  var modeler = new window.BpmnJS({
    container: bpmnBox,
    moddleExtensions: { spiffworkflow: window.paigongSpiffModdle }
  });
  window.paigongModeler = modeler;
  var dmn = null;

  // -- small helpers ----------------------------------------------------------------------

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") { node.textContent = attrs[k]; } else if (k === "className") { node.className = attrs[k]; }
      else if (attrs[k] !== null && attrs[k] !== undefined && attrs[k] !== false) { node.setAttribute(k, attrs[k]); }
    });
    (children || []).forEach(function (c) { if (c) { node.appendChild(typeof c === "string" ? document.createTextNode(c) : c); } });
    return node;
  }

  function status(text, kind) {
    var box = $("modeler-status");
    box.textContent = text || "";
    box.className = kind ? "status-" + kind : "muted";
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(body)
    }).then(function (r) {
      var type = r.headers.get("Content-Type") || "";
      var read = type.indexOf("json") >= 0 ? r.json() : r.text().then(function (t) { return { html: t }; });
      return read.then(function (data) { return { status: r.status, ok: r.ok, data: data }; });
    });
  }

  function kindOf(name) {
    if (/\.bpmn$/.test(name)) { return "bpmn"; }
    if (/\.dmn$/.test(name)) { return "dmn"; }
    if (/^forms\/.*\.json$/.test(name)) { return "form"; }
    return "json";
  }

  // -- files ------------------------------------------------------------------------------

  function renderFileList() {
    var list = $("file-list"), filter = ($("file-filter").value || "").toLowerCase();
    list.textContent = "";
    var groups = [["bpmn", "流程"], ["dmn", "决策表"], ["form", "表单"], ["json", "其他"]];
    groups.forEach(function (g) {
      var names = Object.keys(state.files).filter(function (n) {
        return kindOf(n) === g[0] && n.toLowerCase().indexOf(filter) >= 0;
      }).sort();
      if (!names.length) { return; }
      list.appendChild(el("div", { className: "file-group", text: g[1] }));
      names.forEach(function (name) {
        var count = state.problems.filter(function (p) { return p.file === name && p.severity !== "warning"; }).length;
        var button = el("button", {
          type: "button", role: "tab", className: "file" + (name === state.current ? " active" : ""),
          "aria-selected": name === state.current ? "true" : "false", "data-file": name
        }, [name.replace(/^forms\//, ""), count ? el("span", { className: "badge badge-overdue", text: String(count) }) : null,
            state.modified[name] ? el("span", { className: "dot", title: "已修改", text: "●" }) : null]);
        button.addEventListener("click", function () { openFile(name); });
        list.appendChild(button);
      });
    });
  }

  var DI_NS = "http://www.omg.org/spec/BPMN/20100524/DI";

  // bpmn-js leaves out diagram shapes it cannot display (a shape of a process no pool shows, an
  // edge naming no element); put every such shape back unless its element was deleted here
  function keepDiagram(before, after) {
    var parser = new DOMParser();
    var a = parser.parseFromString(before, "application/xml"), b = parser.parseFromString(after, "application/xml");
    if (a.getElementsByTagName("parsererror").length || b.getElementsByTagName("parsererror").length) { return after; }
    var ids = {}, shown = {};
    Array.prototype.forEach.call(b.getElementsByTagName("*"), function (n) {
      if (n.getAttribute("id")) { ids[n.getAttribute("id")] = true; }
      if (n.namespaceURI === DI_NS && n.getAttribute("bpmnElement")) { shown[n.getAttribute("bpmnElement")] = true; }
    });
    var planes = b.getElementsByTagNameNS(DI_NS, "BPMNPlane"), restored = 0;
    if (!planes.length) { return after; }
    ["BPMNShape", "BPMNEdge"].forEach(function (tag) {
      Array.prototype.forEach.call(a.getElementsByTagNameNS(DI_NS, tag), function (node) {
        var id = node.getAttribute("id"), ref = node.getAttribute("bpmnElement");
        if ((id && ids[id]) || (ref && (!ids[ref] || shown[ref]))) { return; }
        var home = node.parentNode && node.parentNode.getAttribute ? node.parentNode.getAttribute("bpmnElement") : null;
        var plane = Array.prototype.filter.call(planes, function (p) { return p.getAttribute("bpmnElement") === home; })[0] || planes[0];
        plane.appendChild(b.importNode(node, true));
        if (id) { ids[id] = true; }
        restored += 1;
      });
    });
    if (!restored) { return after; }
    var text = new XMLSerializer().serializeToString(b);
    return /^<\?xml/.test(text) ? text : '<?xml version="1.0" encoding="UTF-8"?>\n' + text;
  }

  function saveBpmnXML() {
    var before = state.opened;
    return modeler.saveXML({ format: true }).then(function (r) { return before ? keepDiagram(before, r.xml) : r.xml; });
  }

  // write the open editor's content back into state.files (only when it was changed, or ``force``)
  function flush(force) {
    var name = state.current;
    if (!name) { return Promise.resolve(); }
    if (state.kind === "bpmn" && (force || modeler.get("commandStack").canUndo())) {
      return saveBpmnXML().then(function (xml) { state.files[name] = xml; state.modified[name] = true; });
    }
    if (state.kind === "dmn" && dmn && (force || state.dmnChanged)) {
      return dmn.saveXML({ format: true }).then(function (r) { state.files[name] = r.xml; state.modified[name] = true; });
    }
    return Promise.resolve();
  }

  function show(kind) {
    bpmnBox.hidden = kind !== "bpmn";
    dmnBox.hidden = kind !== "dmn";
    formBox.hidden = kind !== "form" && kind !== "json";
    $("empty-note").hidden = !!kind;
  }

  function openFile(name) {
    if (!(name in state.files)) { return Promise.reject(new Error("no file " + name)); }
    if (name === state.current) { return Promise.resolve(); }
    return flush().then(function () {
      state.current = name;
      state.kind = kindOf(name);
      show(state.kind);
      renderFileList();
      $("props").textContent = "";
      root.setAttribute("data-file", name);
      if (state.kind === "bpmn") { return openBpmn(name); }
      if (state.kind === "dmn") { return openDmn(name); }
      return openForm(name);
    });
  }

  function openBpmn(name) {
    state.marked = [];
    state.opened = state.files[name];
    return modeler.importXML(state.files[name]).then(function (result) {
      modeler.get("canvas").zoom("fit-viewport");
      markProblems();
      renderProps(null);
      if (result.warnings && result.warnings.length) {
        status("导入提示 " + result.warnings.length + " 条（元素均已保留）", "warn");
      }
    }).catch(function (err) {
      status("无法打开 " + name + "：" + (err && err.message || err), "error");
      throw err;
    });
  }

  // -- DMN ----------------------------------------------------------------------------------

  function openDmn(name) {
    if (!dmn) {
      dmn = new window.DmnJS({ container: dmnBox, common: {} });
      window.paigongDmn = dmn;
      var watched = [];
      dmn.on("views.changed", function () {
        var viewer = dmn.getActiveViewer();
        if (viewer && watched.indexOf(viewer) < 0) {
          watched.push(viewer);
          viewer.on("commandStack.changed", function () { state.dmnChanged = true; });
        }
        renderDmnViews();
      });
    }
    state.dmnChanged = false;
    return dmn.importXML(state.files[name]).then(function () {
      var table = dmn.getViews().filter(function (v) { return v.type === "decisionTable"; })[0];
      return table ? dmn.open(table) : null;
    }).then(function () { renderDmnViews(); });
  }

  function renderDmnViews() {
    var box = $("props");
    if (state.kind !== "dmn" || !dmn) { return; }
    box.textContent = "";
    box.appendChild(el("h3", { text: "决策与视图" }));
    var active = dmn.getActiveView();
    dmn.getViews().forEach(function (view) {
      var names = { drd: "决策关系图", decisionTable: "决策表", literalExpression: "文字表达式" };
      var b = el("button", { type: "button", className: "btn small" + (active && active.element === view.element ? " primary" : ""),
                             text: (names[view.type] || view.type) + "：" + (view.element.name || view.element.id) });
      b.addEventListener("click", function () { dmn.open(view); });
      box.appendChild(el("div", {}, [b]));
    });
  }

  // -- forms --------------------------------------------------------------------------------

  var TYPES = { string: "文本", textarea: "多行文本", integer: "整数", number: "数字", boolean: "是/否",
                date: "日期", "date-time": "日期时间", "enum": "选项", array: "表格行", object: "对象" };

  function fieldKind(prop) {
    if (prop.enum) { return "enum"; }
    if (prop.format === "date" || prop.format === "date-time") { return prop.format; }
    if (prop["x-ui"] && prop["x-ui"].widget === "textarea") { return "textarea"; }
    return prop.type || "string";
  }

  function openForm(name) {
    $("form-json").value = state.files[name];
    formChanged(false);
    return Promise.resolve();
  }

  function parsedForm() {
    try {
      var data = JSON.parse($("form-json").value);
      return (data && typeof data === "object" && !Array.isArray(data)) ? data : null;
    } catch (e) { return null; }
  }

  function writeForm(schema) {
    $("form-json").value = JSON.stringify(schema, null, 2) + "\n";
    formChanged(true);
  }

  function formChanged(edited) {
    var name = state.current, text = $("form-json").value, err = $("form-json-error");
    var schema = null;
    try { schema = JSON.parse(text); } catch (e) { err.textContent = "JSON 格式错误：" + e.message; }
    err.hidden = !!schema || !text;
    if (edited && name && state.files[name] !== text) { state.files[name] = text; state.modified[name] = true; renderFileList(); }
    if (!schema || state.kind !== "form") { $("form-field-list").textContent = ""; return; }
    renderFormFields(schema);
    clearTimeout(state.formTimer);
    state.formTimer = setTimeout(function () { preview(schema); }, edited ? 300 : 0);
  }

  function preview(schema) {
    post(cfg.urls.preview, { schema: schema }).then(function (r) {
      var box = $("form-preview");
      if (r.ok && r.data.html !== undefined) {
        // the server renders the preview with the task page's own escaped template
        box.innerHTML = r.data.html;
        box.querySelectorAll("input, select, textarea, button").forEach(function (c) { c.setAttribute("tabindex", "-1"); });
      } else {
        box.textContent = (r.data && (r.data.message || r.data.error)) || "预览失败";
      }
      box.setAttribute("data-ready", "1");
    });
  }

  function renderFormFields(schema) {
    var list = $("form-field-list");
    list.textContent = "";
    var props = schema.properties || {};
    var required = schema.required || [];
    Object.keys(props).forEach(function (key, index) {
      var prop = props[key] || {};
      var title = el("input", { value: prop.title || "", "aria-label": "标题 " + key, maxlength: "100" });
      title.addEventListener("change", function () { var s = parsedForm(); s.properties[key].title = title.value; writeForm(s); });
      var req = el("input", { type: "checkbox", "aria-label": "必填 " + key });
      req.checked = required.indexOf(key) >= 0;
      req.addEventListener("change", function () {
        var s = parsedForm(), r = (s.required || []).filter(function (k) { return k !== key; });
        if (req.checked) { r.push(key); }
        s.required = r;
        writeForm(s);
      });
      var up = el("button", { type: "button", className: "btn small link", title: "上移", text: "↑" });
      up.disabled = index === 0;
      up.addEventListener("click", function () { moveField(key, -1); });
      var del = el("button", { type: "button", className: "btn small link", title: "删除字段", text: "✕" });
      del.addEventListener("click", function () {
        var s = parsedForm();
        delete s.properties[key];
        s.required = (s.required || []).filter(function (k) { return k !== key; });
        writeForm(s);
      });
      var row = el("div", { className: "form-field-row", "data-key": key }, [
        el("code", { text: key }), title, el("span", { className: "muted", text: TYPES[fieldKind(prop)] || prop.type || "" }),
        el("label", { className: "check" }, [req, "必填"]), up, del
      ]);
      if (prop.enum) {
        var opts = el("input", { value: prop.enum.map(function (v, i) {
          return v + ((prop["x-enum-labels"] || [])[i] ? "=" + prop["x-enum-labels"][i] : "");
        }).join(", "), "aria-label": "选项 " + key, title: "选项：值=显示名，逗号分隔" });
        opts.addEventListener("change", function () {
          var s = parsedForm(), values = [], shown = [];
          opts.value.split(/[,，]/).forEach(function (part) {
            var bits = part.split("="), v = bits[0].trim();
            if (v) { values.push(v); shown.push((bits[1] || v).trim()); }
          });
          s.properties[key].enum = values;
          s.properties[key]["x-enum-labels"] = shown;
          writeForm(s);
        });
        row.appendChild(opts);
      }
      list.appendChild(row);
    });
  }

  function moveField(key, delta) {
    var s = parsedForm(), keys = Object.keys(s.properties), i = keys.indexOf(key), j = i + delta;
    if (j < 0 || j >= keys.length) { return; }
    keys.splice(j, 0, keys.splice(i, 1)[0]);
    var moved = {};
    keys.forEach(function (k) { moved[k] = s.properties[k]; });
    s.properties = moved;
    writeForm(s);
  }

  function addField() {
    var key = ($("new-field-key").value || "").trim(), title = ($("new-field-title").value || "").trim();
    var kind = $("new-field-type").value, s = parsedForm();
    if (!s) { status("先修正 JSON 格式错误", "error"); return; }
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(key)) { status("字段名只能用英文字母、数字和下划线，且不以数字开头", "error"); return; }
    s.properties = s.properties || {};
    if (s.properties[key]) { status("字段 " + key + " 已存在", "error"); return; }
    var prop = { title: title || key };
    if (kind === "textarea") { prop.type = "string"; prop["x-ui"] = { widget: "textarea" }; prop.maxLength = 500; }
    else if (kind === "date" || kind === "date-time") { prop.type = "string"; prop.format = kind; }
    else if (kind === "enum") { prop.type = "string"; prop.enum = ["a", "b"]; prop["x-enum-labels"] = ["选项一", "选项二"]; }
    else { prop.type = kind; }
    if (prop.type === "string" && !prop.format && !prop.enum && !prop.maxLength) { prop.maxLength = 200; }
    s.properties[key] = prop;
    writeForm(s);
    $("new-field-key").value = "";
    $("new-field-title").value = "";
    status("已添加字段 " + key, "ok");
  }

  function newForm() {
    var name = (window.prompt("新表单文件名（英文，不含 .json）", "") || "").trim();
    if (!name) { return; }
    if (!/^[A-Za-z0-9_\-]{1,100}$/.test(name)) { status("文件名只能用英文字母、数字、下划线和短横线", "error"); return; }
    var file = "forms/" + name + ".json";
    if (state.files[file]) { openFile(file); return; }
    state.files[file] = JSON.stringify({
      "$schema": "https://json-schema.org/draft/2020-12/schema", title: name, type: "object",
      properties: {}, required: [], additionalProperties: false
    }, null, 2) + "\n";
    state.modified[file] = true;
    openFile(file);
  }

  // -- properties sidebar (the attributes the engine reads) --------------------------------

  var modeling = function () { return modeler.get("modeling"); };
  var moddle = function () { return modeler.get("moddle"); };

  function extOf(owner, type) {
    var ee = owner.extensionElements;
    return ee ? (ee.get("values") || []).filter(function (v) { return v.$instanceOf && v.$instanceOf(type); })[0] || null : null;
  }

  function ensureExt(element, owner, type, attrs) {
    var ee = owner.extensionElements;
    if (!ee) {
      ee = moddle().create("bpmn:ExtensionElements", { values: [] });
      ee.$parent = owner;
      modeling().updateModdleProperties(element, owner, { extensionElements: ee });
    }
    var found = extOf(owner, type);
    if (!found) {
      found = moddle().create(type, attrs || {});
      found.$parent = ee;
      modeling().updateModdleProperties(element, ee, { values: ee.get("values").concat([found]) });
    }
    return found;
  }

  function dropExt(element, owner, type) {
    var ee = owner.extensionElements, found = extOf(owner, type);
    if (found) { modeling().updateModdleProperties(element, ee, { values: ee.get("values").filter(function (v) { return v !== found; }) }); }
  }

  function getProp(owner, name) {
    var props = extOf(owner, "spiffworkflow:Properties");
    var found = props ? (props.get("properties") || []).filter(function (p) { return p.name === name; })[0] : null;
    return found ? found.value || "" : "";
  }

  function setProp(element, name, value) {
    var owner = element.businessObject;
    var props = ensureExt(element, owner, "spiffworkflow:Properties");
    var list = props.get("properties"), found = list.filter(function (p) { return p.name === name; })[0];
    if (!value) {
      if (found) { modeling().updateModdleProperties(element, props, { properties: list.filter(function (p) { return p !== found; }) }); }
      return;
    }
    if (found) { modeling().updateModdleProperties(element, found, { value: value }); return; }
    var made = moddle().create("spiffworkflow:Property", { name: name, value: value });
    made.$parent = props;
    modeling().updateModdleProperties(element, props, { properties: list.concat([made]) });
  }

  function getBody(owner, type) { var found = extOf(owner, type); return found ? found.value || "" : ""; }

  function setBody(element, owner, type, text) {
    if (!text) { dropExt(element, owner, type); return; }
    var found = ensureExt(element, owner, type);
    modeling().updateModdleProperties(element, found, { value: text });
  }

  function field(label, control, hint) {
    return el("label", { className: "prop" }, [el("span", { text: label }), control, hint ? el("small", { className: "muted", text: hint }) : null]);
  }

  function input(value, onChange, attrs) {
    var node = el("input", Object.assign({ value: value || "" }, attrs || {}));
    node.addEventListener("change", function () { onChange(node.value.trim()); });
    return node;
  }

  function textarea(value, onChange, attrs) {
    var node = el("textarea", Object.assign({ rows: "4", spellcheck: "false" }, attrs || {}));
    node.value = value || "";
    node.addEventListener("change", function () { onChange(node.value); });
    return node;
  }

  function select(options, value, onChange, attrs) {
    var node = el("select", attrs || {});
    options.forEach(function (o) {
      var opt = el("option", { value: o[0], text: o[1] });
      if (o[0] === value) { opt.selected = true; }
      node.appendChild(opt);
    });
    node.addEventListener("change", function () { onChange(node.value); });
    return node;
  }

  function groupOfLane(lane) {
    var b = lane.businessObject;
    return cfg.groups.filter(function (g) { return g.id === b.name || g.id === b.id; })[0] ||
      cfg.groups.filter(function (g) { return g.name === b.name; })[0] || null;
  }

  function laneOf(element) {
    var b = element.businessObject;
    var lanes = modeler.get("elementRegistry").filter(function (e) {
      return e.type === "bpmn:Lane" && (e.businessObject.flowNodeRef || []).indexOf(b) >= 0;
    });
    return lanes[0] || null;
  }

  function setLaneGroup(lane, groupId) {
    var group = cfg.groups.filter(function (g) { return g.id === groupId; })[0];
    if (!group) { return; }
    var changes = { name: group.name };
    var other = cfg.groups.filter(function (g) { return g.id === lane.businessObject.id && g.id !== group.id; })[0];
    if (other) {  // the lane's id names another group, which would win: give it a neutral id
      var ids = lane.businessObject.$model.ids, id = "lane_" + group.id, n = 2;
      while (ids.assigned(id)) { id = "lane_" + group.id + "_" + n++; }
      changes.id = id;
    }
    modeling().updateProperties(lane, changes);
  }

  function formFiles() {
    return Object.keys(state.files).filter(function (n) { return /^forms\/.*\.json$/.test(n); })
      .map(function (n) { return n.slice(6); }).sort();
  }

  function definitionsOf() { return modeler.getDefinitions(); }

  function messages() {
    return (definitionsOf().get("rootElements") || []).filter(function (r) { return r.$type === "bpmn:Message"; });
  }

  function messageByName(element, name) {
    var found = messages().filter(function (m) { return m.name === name; })[0];
    if (found || !name) { return found || null; }
    var defs = definitionsOf(), ids = defs.$model.ids, id = "message_" + name.replace(/[^A-Za-z0-9_]/g, "_"), n = 2;
    while (ids.assigned(id)) { id = "message_" + name.replace(/[^A-Za-z0-9_]/g, "_") + "_" + n++; }
    found = moddle().create("bpmn:Message", { id: id, name: name });
    ids.claim(id, found);
    found.$parent = defs;
    modeling().updateModdleProperties(element, defs, { rootElements: defs.get("rootElements").concat([found]) });
    return found;
  }

  function renderProps(element) {
    if (state.kind !== "bpmn") { return; }
    var box = $("props");
    box.textContent = "";
    if (!element) {
      box.appendChild(el("p", { className: "muted", text: "选择一个元素查看和修改它的属性。" }));
      return;
    }
    var b = element.businessObject, type = element.type;
    box.setAttribute("data-element", element.id);
    box.appendChild(el("h3", { text: (b.name || b.id) }));
    box.appendChild(el("p", { className: "muted", text: type.replace("bpmn:", "") }));
    box.appendChild(field("ID", input(b.id, function (v) {
      if (v === b.id) { return; }
      if (!/^[A-Za-z_][A-Za-z0-9_.\-]{0,127}$/.test(v)) { status("ID 只能用英文字母、数字、下划线，且以字母开头", "error"); renderProps(element); return; }
      if (b.$model.ids.assigned(v)) { status("ID " + v + " 已被使用", "error"); renderProps(element); return; }
      modeling().updateProperties(element, { id: v });
    }, { name: "id", maxlength: "128" })));
    if (type !== "bpmn:Process" && type !== "label") {
      box.appendChild(field("名称", input(b.name, function (v) { modeling().updateProperties(element, { name: v || undefined }); },
                                           { name: "name", maxlength: "256" })));
    }
    problemsOf(element.id).forEach(function (p) {
      box.appendChild(el("p", { className: "error", text: p.message }));
    });
    if (type === "bpmn:Lane") { laneProps(box, element); }
    if (type === "bpmn:UserTask" || type === "bpmn:ManualTask") { userTaskProps(box, element); }
    if (type === "bpmn:ServiceTask") { serviceProps(box, element); }
    if (type === "bpmn:ScriptTask") {
      box.appendChild(field("脚本", textarea(b.script, function (v) {
        modeling().updateProperties(element, { script: v, scriptFormat: b.scriptFormat || "python" });
      }, { name: "script", rows: "8" }), "受限 Python：不能 import，不能访问文件和网络"));
    }
    if (type === "bpmn:BusinessRuleTask") {
      box.appendChild(field("决策 ID", input(getBody(b, "spiffworkflow:CalledDecisionId"), function (v) {
        setBody(element, b, "spiffworkflow:CalledDecisionId", v);
      }, { name: "calledDecisionId" })));
    }
    if (type === "bpmn:CallActivity") {
      box.appendChild(field("调用的流程 ID", input(b.calledElement, function (v) {
        modeling().updateProperties(element, { calledElement: v || undefined });
      }, { name: "calledElement" })));
    }
    if (type === "bpmn:SequenceFlow") { flowProps(box, element); }
    (b.eventDefinitions || []).forEach(function (def) {
      if (def.$type === "bpmn:TimerEventDefinition") { timerProps(box, element, def); }
      if (def.$type === "bpmn:MessageEventDefinition") { messageProps(box, element, def, type); }
    });
    if (type === "bpmn:ReceiveTask" || type === "bpmn:SendTask") { messageProps(box, element, b, type); }
    if (/Task$|CallActivity|SubProcess/.test(type)) {
      box.appendChild(field("前置脚本", textarea(getBody(b, "spiffworkflow:PreScript"), function (v) {
        setBody(element, b, "spiffworkflow:PreScript", v);
      }, { name: "preScript", rows: "3" })));
      box.appendChild(field("后置脚本", textarea(getBody(b, "spiffworkflow:PostScript"), function (v) {
        setBody(element, b, "spiffworkflow:PostScript", v);
      }, { name: "postScript", rows: "3" })));
    }
  }

  function laneProps(box, lane) {
    var current = groupOfLane(lane);
    var options = [["", "（未对应员工组）"]].concat(cfg.groups.map(function (g) { return [g.id, g.name + " (" + g.id + ")"]; }));
    box.appendChild(field("员工组", select(options, current ? current.id : "", function (v) { setLaneGroup(lane, v); },
                                           { name: "group" }), "泳道里的用户任务进入这个组的收件箱"));
  }

  function userTaskProps(box, element) {
    var b = element.businessObject, lane = laneOf(element);
    var group = lane ? groupOfLane(lane) : null;
    box.appendChild(el("p", { className: group ? "muted" : "error",
      text: lane ? "泳道：" + (lane.businessObject.name || lane.id) + (group ? " → " + group.name : "（未对应员工组）") : "不在任何泳道中" }));
    var form = getProp(b, "formJsonSchemaFilename");
    var options = [["", "（无表单）"]].concat(formFiles().map(function (f) { return [f, f]; }));
    if (form && formFiles().indexOf(form) < 0) { options.push([form, form + "（缺失）"]); }
    var open = el("button", { type: "button", className: "btn small", text: "打开表单", disabled: form ? null : "disabled" });
    open.addEventListener("click", function () { if (getProp(b, "formJsonSchemaFilename")) { openFile("forms/" + getProp(b, "formJsonSchemaFilename")); } });
    box.appendChild(field("表单文件", select(options, form, function (v) {
      setProp(element, "formJsonSchemaFilename", v);
      renderProps(element);
    }, { name: "form" })));
    box.appendChild(open);
    box.appendChild(field("指派给（表达式）", input(getProp(b, "assignee"), function (v) { setProp(element, "assignee", v); },
                                              { name: "assignee" }), "例如 technician：变量里的用户名"));
    box.appendChild(field("完成时限（表达式）", input(getProp(b, "dueDate"), function (v) { setProp(element, "dueDate", v); },
                                               { name: "dueDate" })));
    box.appendChild(field("给处理人的说明", textarea(getBody(b, "spiffworkflow:InstructionsForEndUser"), function (v) {
      setBody(element, b, "spiffworkflow:InstructionsForEndUser", v);
    }, { name: "instructions", rows: "3" }), "可用 {{ 变量 }}"));
  }

  function serviceProps(box, element) {
    var b = element.businessObject, op = extOf(b, "spiffworkflow:ServiceTaskOperator");
    var opName = op ? op.id || "" : "";
    var known = cfg.operators.filter(function (o) { return o.name === opName; })[0];
    var options = [["", "（请选择）"]].concat(cfg.operators.map(function (o) { return [o.name, o.name + (o.description ? " — " + o.description : "")]; }));
    if (opName && !known) { options.push([opName, opName + "（未注册）"]); }
    box.appendChild(field("服务操作", select(options, opName, function (v) {
      if (!v) { dropExt(element, b, "spiffworkflow:ServiceTaskOperator"); renderProps(element); return; }
      var target = ensureExt(element, b, "spiffworkflow:ServiceTaskOperator", { id: v, resultVariable: v + "_result" });
      modeling().updateModdleProperties(element, target, { id: v });
      var spec = cfg.operators.filter(function (o) { return o.name === v; })[0];
      var old = {};
      ((target.parameterList && target.parameterList.get("parameters")) || []).forEach(function (p) { old[p.id] = p.value; });
      setParameters(element, target, spec.params.map(function (name) { return [name, old[name] || name]; }));
      renderProps(element);
    }, { name: "operator" })));
    if (!op) { return; }
    box.appendChild(field("结果变量", input(op.resultVariable, function (v) {
      modeling().updateModdleProperties(element, op, { resultVariable: v || undefined });
    }, { name: "resultVariable" })));
    var params = (op.parameterList && op.parameterList.get("parameters")) || [];
    var names = known ? known.params : params.map(function (p) { return p.id; });
    var fieldset = el("fieldset", { className: "params" }, [el("legend", { text: "参数（表达式）" })]);
    names.forEach(function (name) {
      var current = params.filter(function (p) { return p.id === name; })[0];
      var required = known && known.required.indexOf(name) >= 0;
      fieldset.appendChild(field(name + (required ? " *" : ""), input(current ? current.value : "", function () {
        var values = [];
        fieldset.querySelectorAll("input[data-param]").forEach(function (i) {
          if (i.value.trim()) { values.push([i.getAttribute("data-param"), i.value.trim()]); }
        });
        setParameters(element, op, values);
      }, { "data-param": name, name: "param-" + name })));
    });
    box.appendChild(fieldset);
  }

  function setParameters(element, op, pairs) {
    var list = op.parameterList;
    if (!list) {
      list = moddle().create("spiffworkflow:Parameters", { parameters: [] });
      list.$parent = op;
      modeling().updateModdleProperties(element, op, { parameterList: list });
    }
    var made = pairs.map(function (pair) {
      var p = moddle().create("spiffworkflow:Parameter", { id: pair[0], type: "any", value: pair[1] });
      p.$parent = list;
      return p;
    });
    modeling().updateModdleProperties(element, list, { parameters: made });
  }

  function flowProps(box, element) {
    var b = element.businessObject, source = element.source;
    if (!source || !/Gateway$|Task$|Activity$/.test(source.type)) { return; }
    var cond = b.conditionExpression ? b.conditionExpression.body || "" : "";
    box.appendChild(field("条件（表达式）", textarea(cond, function (v) {
      var expr = v.trim() ? moddle().create("bpmn:FormalExpression", { body: v.trim() }) : undefined;
      modeling().updateProperties(element, { conditionExpression: expr });
    }, { name: "condition", rows: "2" }), "例如 warranty[\"covered\"] == True"));
    if (/Gateway$/.test(source.type)) {
      var isDefault = source.businessObject.default === b;
      var check = el("input", { type: "checkbox", name: "default" });
      check.checked = isDefault;
      check.addEventListener("change", function () {
        modeling().updateProperties(source, { "default": check.checked ? b : undefined });
      });
      box.appendChild(el("label", { className: "check" }, [check, " 默认路径"]));
    }
  }

  var TIMER_KINDS = [["timeDuration", "时长（如 PT2H）"], ["timeDate", "日期时间（ISO 8601 或表达式）"], ["timeCycle", "循环（如 R3/PT10M）"]];

  function timerProps(box, element, def) {
    var kind = TIMER_KINDS.filter(function (k) { return def[k[0]]; })[0];
    kind = kind ? kind[0] : "timeDuration";
    var value = def[kind] ? def[kind].body || "" : "";
    var kindSelect = select(TIMER_KINDS, kind, function () { apply(); }, { name: "timerKind" });
    var expr = input(value, function () { apply(); }, { name: "timer" });
    function apply() {
      var changes = { timeDuration: undefined, timeDate: undefined, timeCycle: undefined };
      if (expr.value.trim()) { changes[kindSelect.value] = moddle().create("bpmn:FormalExpression", { body: expr.value.trim() }); }
      modeling().updateModdleProperties(element, def, changes);
    }
    box.appendChild(field("定时器类型", kindSelect));
    box.appendChild(field("定时器表达式", expr, "引号内为字面值，如 \"PT24H\"；也可用变量"));
  }

  function messageProps(box, element, owner, type) {
    var ref = owner.messageRef;
    var names = messages().map(function (m) { return m.name || m.id; });
    var list = el("datalist", { id: "pg-messages" }, names.map(function (n) { return el("option", { value: n }); }));
    box.appendChild(list);
    box.appendChild(field("消息名称", input(ref ? ref.name || ref.id : "", function (v) {
      var msg = messageByName(element, v);
      modeling().updateModdleProperties(element, owner, { messageRef: msg || undefined });
      renderProps(element);
    }, { name: "message", list: "pg-messages" }), "已有的消息可从列表选，新名称会新建消息"));
    var throwing = /Throw|EndEvent|SendTask/.test(type);
    if (owner.$type === "bpmn:MessageEventDefinition") {
      if (throwing) {
        box.appendChild(field("消息内容（表达式）", textarea(getBody(owner, "spiffworkflow:MessagePayload"), function (v) {
          setBody(element, owner, "spiffworkflow:MessagePayload", v.trim());
        }, { name: "payload", rows: "3" })));
      } else {
        box.appendChild(field("收到的内容存入变量", input(getBody(owner, "spiffworkflow:MessageVariable"), function (v) {
          setBody(element, owner, "spiffworkflow:MessageVariable", v);
        }, { name: "messageVariable" })));
      }
    }
    box.appendChild(el("p", { className: "muted", text: "关联：按工单号（业务键）找到等待这条消息的实例。" }));
  }

  modeler.on("selection.changed", function (e) { renderProps(e.newSelection[0] || null); });
  modeler.on("element.changed", function (e) {
    var selected = modeler.get("selection").get()[0];
    if (selected && selected === e.element && !$("props").contains(document.activeElement)) { renderProps(selected); }
  });
  modeler.on("commandStack.changed", function (e) {
    if (e && e.trigger === "clear") { return; }
    if (state.current && !state.modified[state.current]) { state.modified[state.current] = true; renderFileList(); }
  });

  // -- problems -----------------------------------------------------------------------------

  function problemsOf(elementId) {
    return state.problems.filter(function (p) { return p.file === state.current && p.element_id === elementId; });
  }

  function markProblems() {
    if (state.kind !== "bpmn") { return; }
    var canvas = modeler.get("canvas"), registry = modeler.get("elementRegistry");
    state.marked.forEach(function (id) {
      if (registry.get(id)) {
        ["pg-problem", "pg-warning", "pg-problem-focus"].forEach(function (cls) { canvas.removeMarker(id, cls); });
      }
    });
    state.marked = [];
    state.problems.forEach(function (p) {
      if (p.file === state.current && p.element_id && registry.get(p.element_id)) {
        var cls = p.severity === "warning" ? "pg-warning" : "pg-problem";
        if (cls === "pg-warning" && canvas.hasMarker(p.element_id, "pg-problem")) { return; }
        if (cls === "pg-problem") { canvas.removeMarker(p.element_id, "pg-warning"); }
        canvas.addMarker(p.element_id, cls);
        state.marked.push(p.element_id);
      }
    });
  }

  function showProblems(problems) {
    state.problems = problems || [];
    var list = $("problem-list");
    list.textContent = "";
    var errors = state.problems.filter(function (p) { return p.severity !== "warning"; }).length;
    $("problem-count").textContent = String(errors);
    $("warning-count").textContent = String(state.problems.length - errors);
    state.problems.forEach(function (p, index) {
      var button = el("button", { type: "button", className: "problem problem-" + (p.severity || "error"),
                                  "data-file": p.file, "data-element": p.element_id || "" }, [
        el("span", { className: "where", text: p.file + (p.element_id ? " [" + p.element_id + "]" : "") }),
        el("span", { className: "what", text: p.message })
      ]);
      button.addEventListener("click", function () { focusProblem(index); });
      list.appendChild(el("li", {}, [button]));
    });
    if (!state.problems.length) { list.appendChild(el("li", { className: "muted", text: "没有发现问题" })); }
    markProblems();
    renderFileList();
  }

  function focusProblem(index) {
    var p = state.problems[index];
    if (!p || !(p.file in state.files)) { return Promise.resolve(); }
    return openFile(p.file).then(function () {
      if (state.kind !== "bpmn" || !p.element_id) { return; }
      var registry = modeler.get("elementRegistry"), target = registry.get(p.element_id);
      if (!target) { return; }
      var canvas = modeler.get("canvas");
      state.marked.forEach(function (id) { if (registry.get(id)) { canvas.removeMarker(id, "pg-problem-focus"); } });
      canvas.addMarker(p.element_id, "pg-problem-focus");
      if (target.waypoints || target.width) { canvas.scrollToElement(target); }
      modeler.get("selection").select(target);
    });
  }

  // -- save, validate, deploy ---------------------------------------------------------------

  function payload() {
    return { name: $("draft-name").value.trim(), files: state.files, base_definition_id: state.baseDefinitionId,
             draft_id: state.draftId };
  }

  function refused(r) {
    var d = r.data || {};
    var fields = d.fields ? Object.keys(d.fields).map(function (k) { return k + "：" + d.fields[k]; }).join("；") : "";
    status((d.message || d.error || ("错误 " + r.status)) + (fields ? "（" + fields + "）" : ""), "error");
  }

  function errorCount(problems) {
    return (problems || []).filter(function (p) { return p.severity !== "warning"; }).length;
  }

  function save() {
    status("正在保存…");
    return flush().then(function () { return post(cfg.urls.save, payload()); }).then(function (r) {
      if (!r.ok) { refused(r); return r; }
      state.draftId = r.data.draft.id;
      if (!$("draft-name").value.trim()) { $("draft-name").value = r.data.draft.name; }
      if (window.history && r.data.url) { window.history.replaceState(null, "", r.data.url); }
      showProblems(r.data.problems);
      var errors = errorCount(r.data.problems);
      status(errors ? "草稿已保存，发现 " + errors + " 个错误" : "草稿已保存，没有错误", errors ? "warn" : "ok");
      root.setAttribute("data-saved", String((+root.getAttribute("data-saved") || 0) + 1));
      return r;
    });
  }

  function validate() {
    status("正在校验…");
    return flush().then(function () { return post(cfg.urls.validate, { files: state.files }); }).then(function (r) {
      if (!r.ok) { refused(r); return r; }
      showProblems(r.data.problems);
      var errors = errorCount(r.data.problems);
      status(errors ? "发现 " + errors + " 个错误" : "校验通过，没有错误", errors ? "warn" : "ok");
      return r;
    });
  }

  function deploy() {
    status("正在部署…");
    var box = $("deploy-result");
    box.textContent = "";
    return flush().then(function () { return post(cfg.urls.deploy, { files: state.files }); }).then(function (r) {
      if (r.status === 422 && r.data.problems) {
        showProblems(r.data.problems);
        status("部署被拒绝：" + r.data.problems.length + " 个问题", "error");
        return r;
      }
      if (!r.ok) { refused(r); return r; }
      showProblems([]);
      var deployed = r.data.deployed || [];
      box.appendChild(el("h3", { text: deployed.length ? "已部署新版本" : "没有变化，未产生新版本" }));
      box.appendChild(el("ul", { id: "deployed-list" }, deployed.map(function (d) {
        return el("li", { "data-process": d.process_id, "data-version": String(d.version),
                          text: (d.name || d.process_id) + " (" + d.process_id + ") v" + d.version });
      })));
      state.modified = {};
      renderFileList();
      status(deployed.length ? "已部署 " + deployed.length + " 个流程的新版本" : "没有变化", "ok");
      return r;
    });
  }

  $("btn-save").addEventListener("click", function () { save(); });
  $("btn-validate").addEventListener("click", function () { validate(); });
  if ($("btn-deploy")) { $("btn-deploy").addEventListener("click", function () { deploy(); }); }
  $("btn-new-form").addEventListener("click", newForm);
  $("btn-add-field").addEventListener("click", addField);
  $("file-filter").addEventListener("input", renderFileList);
  $("form-json").addEventListener("input", function () { formChanged(true); });

  window.paigongEditor = {
    state: state, openFile: openFile, save: save, saveBpmnXML: saveBpmnXML, validate: validate, deploy: deploy, flush: flush,
    focusProblem: focusProblem, renderProps: renderProps,
    dmn: function () { return dmn; }
  };

  // -- load ---------------------------------------------------------------------------------

  fetch(cfg.source.url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
    .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
    .then(function (d) {
      state.files = d.files || {};
      state.baseDefinitionId = d.base_definition_id || cfg.source.definition_id || null;
      state.draftId = d.draft_id || null;
      if (d.name) { $("draft-name").value = d.name; }
      renderFileList();
      var first = cfg.open && state.files[cfg.open] !== undefined ? cfg.open
        : (d.main && state.files[d.main] !== undefined ? d.main
          : Object.keys(state.files).filter(function (n) { return kindOf(n) === "bpmn"; }).sort()[0]);
      showProblems(d.problems || []);
      return first ? openFile(first) : null;
    })
    .then(function () { root.setAttribute("data-ready", "1"); })
    .catch(function (err) {
      status("无法载入模型：" + (err && err.message || err), "error");
      root.setAttribute("data-ready", "error");
    });
})();

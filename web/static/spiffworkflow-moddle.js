// The spiffworkflow extension attributes the engine reads, as a moddle package: the modeler
// keeps them through import and save, and the properties sidebar edits them as model elements.
(function () {
  "use strict";
  function body(name) {
    return { name: name, superClass: ["Element"], properties: [{ name: "value", type: "String", isBody: true }] };
  }
  window.paigongSpiffModdle = {
    name: "SpiffWorkflow",
    uri: "http://spiffworkflow.org/bpmn/schema/1.0/core",
    prefix: "spiffworkflow",
    xml: { tagAlias: "lowerCase" },
    associations: [],
    types: [
      { name: "Properties", superClass: ["Element"],
        properties: [{ name: "properties", type: "Property", isMany: true }] },
      { name: "Property", superClass: ["Element"],
        properties: [{ name: "name", type: "String", isAttr: true }, { name: "value", type: "String", isAttr: true }] },
      { name: "ServiceTaskOperator", superClass: ["Element"],
        properties: [{ name: "id", type: "String", isAttr: true },
                     { name: "resultVariable", type: "String", isAttr: true },
                     { name: "parameterList", type: "Parameters" }] },
      { name: "Parameters", superClass: ["Element"],
        properties: [{ name: "parameters", type: "Parameter", isMany: true }] },
      { name: "Parameter", superClass: ["Element"],
        properties: [{ name: "id", type: "String", isAttr: true }, { name: "type", type: "String", isAttr: true },
                     { name: "value", type: "String", isAttr: true }] },
      body("InstructionsForEndUser"),
      body("PreScript"),
      body("PostScript"),
      body("MessagePayload"),
      body("MessageVariable"),
      body("CalledDecisionId")
    ],
    enumerations: []
  };
})();

/* What the office's intake form (office.js) and the portal's online application
   (portal-apply.js) both check in the browser before anything is sent: whether a field's
   conditions hold, and whether the files chosen on a checklist line keep to its limits.
   Only convenience: the server checks every condition and file again. Load it before either
   script; it defines window.HamaynkChecks. */
(function () {
  "use strict";

  function same(actual, expected) {
    if (typeof expected === "boolean") { return Boolean(actual) === expected; }
    if (typeof expected === "number") { return actual !== null && Number(actual) === expected; }
    return actual === expected;
  }

  // Whether one condition ({field, op, value}) holds, a field's value read by valueOf(name).
  function holds(cond, valueOf) {
    var actual = valueOf(cond.field);
    var expected = cond.value;
    var empty = actual === null || actual === "" || (Array.isArray(actual) && !actual.length);
    switch (cond.op) {
      case "set": return !empty;
      case "unset": return empty;
      case "eq": return Array.isArray(actual) ? actual.indexOf(expected) >= 0 : same(actual, expected);
      case "ne": return Array.isArray(actual) ? actual.indexOf(expected) < 0 : !same(actual, expected);
      case "in": return Array.isArray(actual) ? actual.some(function (a) { return expected.indexOf(a) >= 0; }) : expected.some(function (e) { return same(actual, e); });
      case "not_in": return Array.isArray(actual) ? !actual.some(function (a) { return expected.indexOf(a) >= 0; }) : !expected.some(function (e) { return same(actual, e); });
    }
    if (empty) { return false; }
    var a = Number(actual), e = Number(expected);
    if (isNaN(a) || isNaN(e)) { a = String(actual); e = String(expected); }
    switch (cond.op) {
      case "gt": return a > e;
      case "ge": return a >= e;
      case "lt": return a < e;
      case "le": return a <= e;
    }
    return true;
  }

  // Whether every condition of a data-visible-when / data-required-when list holds.
  function allHold(json, valueOf) {
    try {
      return JSON.parse(json).every(function (cond) { return holds(cond, valueOf); });
    } catch (err) {
      return true; // unreadable condition: show the field, the server decides
    }
  }

  function extensionOf(name) {
    var dot = name.lastIndexOf(".");
    return dot > 0 ? name.slice(dot).toLowerCase() : "";
  }

  // The first problem with the files chosen in ``input`` when ``already`` files stay on its
  // line, or "" (the server decides for real: it reads each file's type from its content,
  // here only the name's extension is seen). The messages are the input's data-* attributes.
  function fileProblem(input, already) {
    var files = Array.prototype.slice.call(input.files || []);
    var maxCount = Number(input.getAttribute("data-max-count")) || 0;
    var maxBytes = Number(input.getAttribute("data-max-bytes")) || 0;
    var accepted = (input.getAttribute("accept") || "").split(",").map(function (e) { return e.trim().toLowerCase(); }).filter(Boolean);
    if (maxCount && files.length + already > maxCount) {
      return input.getAttribute("data-too-many");
    }
    for (var i = 0; i < files.length; i++) {
      var file = files[i];
      if (accepted.length && accepted.indexOf(extensionOf(file.name)) < 0) {
        return input.getAttribute("data-wrong-type").replace("{name}", file.name);
      }
      if (file.size === 0) {
        return input.getAttribute("data-empty").replace("{name}", file.name);
      }
      if (maxBytes && file.size > maxBytes) {
        return input.getAttribute("data-too-large").replace("{name}", file.name);
      }
    }
    return "";
  }

  window.HamaynkChecks = { allHold: allHold, fileProblem: fileProblem };
}());

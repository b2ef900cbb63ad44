/* Service builder (app/templates/hamaynk/builder_form.html): only a convenience. Without it
   the form works the same way, with the server making keys and every value of every choice
   field listed under a condition; the server checks everything again on save.

   - Keys follow the Armenian title while typing, until the key itself is edited (saved keys
     are read-only and never touched).
   - A condition shows only the values of the field it names, as ticks, or a text box for a
     field without choices; "is filled in" / "is left empty" need no value at all. With "is"
     or "is not", ticking one value unticks the others.
   - The choices box shows only for the kinds of answer that have choices.
   Only native controls are shown or hidden (the hidden attribute), so the keyboard order
   stays the page order. */
(function () {
  "use strict";

  var form = document.getElementById("builder-form");
  if (!form) { return; }

  // -- keys made from titles (the same rules as app.plugins.builder_services.latin_key) -----

  var table = {};
  try { table = JSON.parse(form.getAttribute("data-transliteration") || "{}"); } catch (err) { table = {}; }
  var WORD_INITIAL = { "\u0565": "ye", "\u0578": "vo" }; // ե, ո
  var LIMIT = 50;

  function latinKey(title, separator) {
    var text = (title || "").toLowerCase().split("\u0578\u0582").join("u"); // ու
    var out = "";
    var atWordStart = true;
    for (var i = 0; i < text.length; i++) {
      var ch = text.charAt(i);
      var piece;
      if (atWordStart && WORD_INITIAL[ch]) { piece = WORD_INITIAL[ch]; }
      else if (Object.prototype.hasOwnProperty.call(table, ch)) { piece = table[ch]; }
      else if (/[a-z0-9]/.test(ch)) { piece = ch; }
      else { piece = " "; }
      out += piece;
      atWordStart = out.charAt(out.length - 1) === " ";
    }
    var words = out.split(/\s+/).filter(function (w) { return w; });
    while (words.length && !/^[a-z]/.test(words[0])) { words.shift(); }
    var key = "";
    for (var j = 0; j < words.length; j++) {
      var longer = key ? key + separator + words[j] : words[j];
      if (longer.length > LIMIT) { break; }
      key = longer;
    }
    if (!key && words.length) { key = words[0].slice(0, LIMIT); }
    return key;
  }

  function sourceText(keyInput) {
    var scope = keyInput.closest(".builder-row") || form;
    var prefix = keyInput.getAttribute("data-key-from");
    var langs = ["hy", "ru", "en"];
    for (var i = 0; i < langs.length; i++) {
      var input = null;
      scope.querySelectorAll("input").forEach(function (candidate) {
        var name = candidate.getAttribute("name") || "";
        // In a row: "fields-0-label_hy"; for the service: "title_hy" (not a row's title).
        var wanted = scope === form ? prefix + "_" + langs[i] : "-" + prefix + "_" + langs[i];
        if (!input && (scope === form ? name === wanted : name.slice(-wanted.length) === wanted)) {
          input = candidate;
        }
      });
      if (input && input.value.trim()) { return input.value; }
    }
    return "";
  }

  form.querySelectorAll("[data-key-from]").forEach(function (keyInput) {
    if (keyInput.readOnly) { return; }
    var separator = keyInput.getAttribute("data-key-separator") || "-";
    // A key the server made from the current title still follows it; one typed by hand does not.
    var touched = keyInput.value !== "" && keyInput.value !== latinKey(sourceText(keyInput), separator);
    keyInput.addEventListener("input", function () { touched = keyInput.value !== ""; });
    var scope = keyInput.closest(".builder-row") || form;
    scope.addEventListener("input", function (event) {
      var name = event.target.getAttribute("name") || "";
      var prefix = keyInput.getAttribute("data-key-from");
      if (touched || event.target === keyInput) { return; }
      if (scope === form ? /^title_(hy|en|ru)$/.test(name) : name.indexOf("-" + prefix + "_") > 0) {
        keyInput.value = latinKey(sourceText(keyInput), separator);
      }
    });
  });

  // -- conditions --------------------------------------------------------------------------

  var NO_VALUE = ["set", "unset"];

  function updateCondition(box) {
    var fieldSelect = box.querySelector("[data-condition-field]");
    var opSelect = box.querySelector("[data-condition-op]");
    var name = fieldSelect ? fieldSelect.value : "";
    var op = opSelect ? opSelect.value : "eq";
    var needsValue = name !== "" && NO_VALUE.indexOf(op) < 0;
    var hasOptions = false;
    box.querySelectorAll("[data-options-for]").forEach(function (group) {
      var mine = group.getAttribute("data-options-for") === name;
      hasOptions = hasOptions || mine;
      group.hidden = !(mine && needsValue);
    });
    var text = box.querySelector("[data-condition-text]");
    if (text) { text.hidden = !needsValue || hasOptions; }
    var opGroup = opSelect ? opSelect.closest(".form-group") : null;
    if (opGroup) { opGroup.hidden = name === ""; }
  }

  form.querySelectorAll("[data-condition]").forEach(function (box) {
    updateCondition(box);
    box.addEventListener("change", function (event) {
      var target = event.target;
      if (target.matches("[data-condition-field], [data-condition-op]")) { updateCondition(box); }
      // "is" / "is not" compare with one value: ticking one unticks the others of that field.
      var op = box.querySelector("[data-condition-op]");
      if (target.type === "checkbox" && target.checked && op && (op.value === "eq" || op.value === "ne")) {
        var group = target.closest("[data-options-for]");
        if (group) {
          group.querySelectorAll("input[type=checkbox]").forEach(function (other) {
            if (other !== target) { other.checked = false; }
          });
        }
      }
    });
  });

  // -- choices only for the kinds of answer that have them ----------------------------------

  form.querySelectorAll("[data-row=field]").forEach(function (row) {
    var kind = row.querySelector("[data-field-type]");
    var box = row.querySelector("[data-choices-box]");
    if (!kind || !box) { return; }
    function update() {
      var area = box.querySelector("textarea");
      var keep = box.querySelector(".has-error") || (area && area.value.trim());
      box.hidden = !(kind.value === "choice" || kind.value === "multichoice" || keep);
    }
    kind.addEventListener("change", update);
    update();
  });
}());

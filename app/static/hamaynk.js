/* Every page: tables that fit a phone, a language switch that stays on the page, and a warning
   before a half-filled form is left by switching language. Only convenience: every page works
   without this file. */
(function () {
  "use strict";

  // -- tables ---------------------------------------------------------------------------------
  // On a phone a table with column headers is shown as stacked cards (hamaynk.css): each cell
  // carries its column's name in data-label. display: block drops the table's meaning for
  // some screen readers, so the roles are stated explicitly.
  function stack(table) {
    var head = table.tHead;
    if (!head || !head.rows.length || !table.tBodies.length) { return; }
    var names = [];
    Array.prototype.forEach.call(head.rows[0].cells, function (cell) {
      for (var i = 0; i < (cell.colSpan || 1); i++) { names.push(cell.textContent.trim()); }
      cell.setAttribute("role", "columnheader");
    });
    table.setAttribute("role", "table");
    head.setAttribute("role", "rowgroup");
    head.rows[0].setAttribute("role", "row");
    Array.prototype.forEach.call(table.tBodies, function (body) {
      body.setAttribute("role", "rowgroup");
      Array.prototype.forEach.call(body.rows, function (row) {
        row.setAttribute("role", "row");
        var column = 0;
        Array.prototype.forEach.call(row.cells, function (cell) {
          var isRowHeader = cell.tagName === "TH";
          cell.setAttribute("role", isRowHeader ? "rowheader" : "cell");
          if (row.cells.length > 1 && !cell.hasAttribute("data-label")) {
            cell.setAttribute("data-label", names[column] || "");
          }
          column += cell.colSpan || 1;
        });
      });
    });
    table.classList.add("hamaynk-stacked");
  }

  // A box that still scrolls sideways (a table without headers, or a very wide cell) must be
  // reachable by keyboard and named for a screen reader.
  function regions() {
    document.querySelectorAll(".table-responsive").forEach(function (box) {
      var scrolls = box.scrollWidth > box.clientWidth + 1;
      if (scrolls && !box.hasAttribute("tabindex")) {
        var caption = box.querySelector("caption");
        var label = (caption && caption.textContent.trim()) || document.title;
        box.setAttribute("tabindex", "0");
        box.setAttribute("role", "region");
        box.setAttribute("aria-label", label);
        box.setAttribute("data-hamaynk-region", "");
      } else if (!scrolls && box.hasAttribute("data-hamaynk-region")) {
        ["tabindex", "role", "aria-label", "data-hamaynk-region"].forEach(function (name) { box.removeAttribute(name); });
      }
    });
  }

  document.querySelectorAll("main table.table").forEach(stack);
  regions();
  var resizing = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizing);
    resizing = setTimeout(regions, 150);
  });

  // -- language switch -------------------------------------------------------------------------
  // The switch links carry ?next=<this page>; switching reloads the page in the new language,
  // which loses what was typed into a form. Ask first (a native dialog: keyboard and screen
  // reader friendly) when a form on the page has been changed.
  var changed = false;
  document.querySelectorAll("main form").forEach(function (form) {
    if ((form.getAttribute("method") || "get").toLowerCase() !== "post") { return; }
    var mark = function () { changed = true; };
    form.addEventListener("input", mark);
    form.addEventListener("change", mark);
    form.addEventListener("submit", function () { changed = false; });
  });
  var question = document.body.getAttribute("data-unsaved-warning");
  document.querySelectorAll(".hamaynk-language .dropdown-menu a[hreflang]").forEach(function (link) {
    link.addEventListener("click", function (event) {
      if (changed && question && !window.confirm(question)) {
        event.preventDefault();
      }
    });
  });
})();

/* Date fields in the page's language. A browser draws <input type=date> in the browser's own
   language (mm/dd/yyyy on an English Chromium), whatever the page's. Here each becomes a text
   field in the page locale's format (data-date-pattern, from Babel: dd.MM.yyyy in hy and ru),
   with the format named under it; a hidden field carries the ISO date (YYYY-MM-DD) the server
   reads, or the text as typed when it is not a date, so the server's message explains it. */
(function () {
  "use strict";
  var root = document.body;
  var pattern = root.getAttribute("data-date-pattern");
  if (!pattern) { return; }
  var order = pattern.match(/dd|MM|yyyy/g) || [];
  if (order.length !== 3) { return; }
  var hint = root.getAttribute("data-date-hint") || "{example}";

  function pad(n, width) { n = String(n); while (n.length < width) { n = "0" + n; } return n; }

  function show(iso) {
    var m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso || "");
    if (!m) { return iso || ""; }
    return pattern.replace("yyyy", m[1]).replace("MM", m[2]).replace("dd", m[3]);
  }

  function parse(text) {
    var parts = (text || "").trim().split(/\D+/).filter(Boolean);
    if (parts.length !== 3) { return null; }
    var v = {};
    order.forEach(function (key, i) { v[key] = parseInt(parts[i], 10); });
    if (v.yyyy < 100) { v.yyyy += 2000; }
    var d = new Date(Date.UTC(v.yyyy, v.MM - 1, v.dd));
    if (d.getUTCFullYear() !== v.yyyy || d.getUTCMonth() !== v.MM - 1 || d.getUTCDate() !== v.dd) { return null; }
    return pad(v.yyyy, 4) + "-" + pad(v.MM, 2) + "-" + pad(v.dd, 2);
  }

  document.querySelectorAll('main input[type="date"]').forEach(function (input) {
    if (!input.name || input.readOnly || input.disabled) { return; }
    var carrier = document.createElement("input");
    carrier.type = "hidden";
    carrier.name = input.name;
    carrier.value = input.value;
    input.removeAttribute("name");
    input.type = "text";
    input.value = show(carrier.value);
    input.setAttribute("inputmode", "decimal");
    input.setAttribute("autocomplete", "off");
    input.setAttribute("placeholder", pattern.toLowerCase());
    input.removeAttribute("min");
    input.removeAttribute("max");
    var note = document.createElement("span");
    note.className = "hamaynk-date-hint";
    note.id = (input.id || input.name) + "-format";
    note.textContent = hint.replace("{example}", show("2026-12-31"));
    input.insertAdjacentElement("afterend", note);
    input.insertAdjacentElement("afterend", carrier);
    var described = (input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
    described.push(note.id);
    input.setAttribute("aria-describedby", described.join(" "));
    var sync = function () {
      var text = input.value.trim();
      carrier.value = text ? (parse(text) || text) : "";
    };
    input.addEventListener("input", sync);
    input.addEventListener("change", sync);
  });
})();

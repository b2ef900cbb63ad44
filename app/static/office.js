/* Front-office intake form: shows and hides conditional fields, marks conditional documents
   as needed, checks chosen files against their line's limits before sending, and finds
   returning applicants. Only convenience: the server validates every field, condition and
   document again, and the form works without this file. On the receipt page: the Print button. */
(function () {
  "use strict";

  var printButton = document.getElementById("print-receipt");
  if (printButton && !printButton.hasAttribute("data-bound")) {
    // A real <button>, so Enter and Space work; the print stylesheet leaves only the receipt.
    // Bound once even if this file is loaded twice: one press, one print dialog.
    printButton.setAttribute("data-bound", "");
    printButton.addEventListener("click", function () { window.print(); });
  }

  var form = document.querySelector("form.office-intake");
  if (!form) { return; }

  // -- reading the form the way the server's conditions see it ----------------------------

  function valueOf(name) {
    var inputs = form.querySelectorAll('[name="' + name + '"]');
    if (!inputs.length) { return null; }
    var first = inputs[0];
    if (first.type === "checkbox" && inputs.length === 1 && !first.closest("ul")) {
      return first.checked;
    }
    if (first.type === "checkbox" || first.type === "radio") {
      var chosen = [];
      inputs.forEach(function (input) { if (input.checked) { chosen.push(input.value); } });
      return first.type === "radio" ? (chosen[0] || null) : chosen;
    }
    var group = first.closest("[data-field]");
    if (group && group.hidden) { return null; }
    return first.value === "" ? null : first.value;
  }

  function allHold(json) {
    return window.HamaynkChecks.allHold(json, valueOf);
  }

  // -- conditional fields and documents -------------------------------------------------

  function refresh() {
    // Twice: a field shown by the first pass may be what another field's condition reads.
    for (var pass = 0; pass < 2; pass++) {
      form.querySelectorAll("[data-visible-when]").forEach(function (input) {
        var group = input.closest("[data-field]");
        if (group) { group.hidden = !allHold(input.getAttribute("data-visible-when")); }
      });
    }
    form.querySelectorAll("[data-required-when]").forEach(function (line) {
      var needed = allHold(line.getAttribute("data-required-when"));
      var label = line.querySelector(".office-conditional");
      if (label) {
        label.textContent = needed ? label.getAttribute("data-on") : label.getAttribute("data-off");
        label.className = "label office-conditional " + (needed ? "label-primary" : "label-default");
      }
    });
  }

  form.addEventListener("change", refresh);
  form.addEventListener("input", refresh);
  refresh();

  // -- the checklist ticks itself as files are chosen, and checks them ------------------------

  // The first problem with what is chosen on this line, or "": the kept files (those not
  // ticked for removal) count towards the line's limit.
  function fileProblem(input) {
    var line = input.closest("[data-document]");
    var kept = line ? line.querySelectorAll(".office-kept-remove:not(:checked)").length : 0;
    return window.HamaynkChecks.fileProblem(input, kept);
  }

  function checkFiles(input) {
    var problem = fileProblem(input);
    var box = document.getElementById(input.id + "-check");
    if (box && box.textContent !== problem) { box.textContent = problem; }
    var line = input.closest("[data-document]");
    if (problem) {
      input.setAttribute("aria-invalid", "true");
      if (line) { line.classList.add("has-error"); }
    } else if (!input.hasAttribute("data-server-error")) {
      input.removeAttribute("aria-invalid");
      if (line) { line.classList.remove("has-error"); }
    }
    return problem;
  }

  form.querySelectorAll('input[type="file"]').forEach(function (input) {
    if (input.getAttribute("aria-invalid") === "true") { input.setAttribute("data-server-error", ""); }
    input.addEventListener("change", function () {
      var status = input.parentNode.querySelector(".office-chosen");
      if (status) {
        var names = Array.prototype.map.call(input.files, function (f) { return f.name; });
        status.textContent = names.length ? "\u2713 " + names.join(", ") : "";
      }
      checkFiles(input);
    });
  });

  // Unticking or ticking "Remove" on a kept file changes what the line may still take.
  form.querySelectorAll(".office-kept-remove").forEach(function (box) {
    box.addEventListener("change", function () {
      var line = box.closest("[data-document]");
      var input = line && line.querySelector('input[type="file"]');
      if (input) { checkFiles(input); }
    });
  });

  form.addEventListener("submit", function (event) {
    var first = null;
    form.querySelectorAll('input[type="file"]').forEach(function (input) {
      if (checkFiles(input) && !first) { first = input; }
    });
    if (first) {
      // Nothing is sent while a file is known to be refused; the message is next to it.
      event.preventDefault();
      first.focus();
    }
  });

  // -- returning applicants -------------------------------------------------------------------

  var search = document.getElementById("applicant-search");
  var button = document.getElementById("applicant-search-button");
  var results = document.getElementById("applicant-search-results");
  if (!search || !button || !results) { return; }

  function fill(person) {
    ["name", "psn", "phone", "email", "address"].forEach(function (key) {
      var input = form.querySelector('[name="applicant-' + key + '"]');
      if (input && person[key]) { input.value = person[key]; }
    });
    var name = form.querySelector('[name="applicant-name"]');
    if (name) { name.focus(); }
  }

  function show(people) {
    results.textContent = "";
    if (!people.length) {
      var none = document.createElement("p");
      none.textContent = results.getAttribute("data-none");
      results.appendChild(none);
      return;
    }
    var list = document.createElement("ul");
    list.className = "list-unstyled";
    people.forEach(function (person) {
      var item = document.createElement("li");
      var use = document.createElement("button");
      use.type = "button";
      use.className = "btn btn-link";
      var parts = [person.name, person.psn, person.phone, person.address].filter(Boolean);
      if (person.source === "registry") { parts.push("(" + results.getAttribute("data-registry") + ")"); }
      use.textContent = results.getAttribute("data-use") + ": " + parts.join(" · ");
      use.addEventListener("click", function () { fill(person); });
      item.appendChild(use);
      list.appendChild(item);
    });
    results.appendChild(list);
  }

  function find() {
    var q = search.value.trim();
    if (q.length < 3) { return; }
    var url = form.getAttribute("data-search-url") + "?q=" + encodeURIComponent(q);
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { if (!response.ok) { throw new Error(String(response.status)); } return response.json(); })
      .then(function (body) { show(body.results || []); })
      .catch(function () {
        results.textContent = results.getAttribute("data-failed");
      });
  }

  button.addEventListener("click", find);
  search.addEventListener("keydown", function (event) {
    // Enter searches instead of submitting the whole application.
    if (event.key === "Enter") { event.preventDefault(); find(); }
  });
})();

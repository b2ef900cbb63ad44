/* The online application (portal, apply.*): only convenience on top of pages that work
   without it. The server checks every field, condition and file again.

   - Form: shows and hides fields whose data-visible-when does not hold.
   - Documents: checks chosen files against their line's limits (type by name, size, count)
     before anything is sent; uploads a line's files at once with a progress bar (XHR with
     upload progress events) and swaps in the server's updated checklist. Without this file,
     or when XHR fails to start, the form posts the files as usual.
   - Error summaries take the focus, so a screen reader reads them first.
   - The submit button is disabled after the first press (the server is idempotent anyway). */
(function () {
  "use strict";

  var summary = document.getElementById("error-summary");
  if (summary) { summary.focus(); }

  // -- conditional fields ------------------------------------------------------------------

  var applyForm = document.querySelector("form[data-apply-form]");

  function valueOf(name) {
    var inputs = applyForm.querySelectorAll('[name="' + name + '"]');
    if (!inputs.length) { return null; }
    var first = inputs[0];
    var group = first.closest("[data-field]");
    if (group && group.hidden) { return null; }
    if (first.type === "checkbox" && !first.closest("[data-multi]")) { return first.checked; }
    if (first.type === "checkbox" || first.type === "radio") {
      var chosen = [];
      Array.prototype.forEach.call(inputs, function (input) { if (input.checked) { chosen.push(input.value); } });
      return first.type === "radio" ? (chosen[0] || null) : chosen;
    }
    return first.value === "" ? null : first.value;
  }

  function allHold(json) {
    return window.HamaynkChecks.allHold(json, valueOf);
  }

  function refresh() {
    // Twice: a field shown by the first pass may be what another field's condition reads.
    for (var pass = 0; pass < 2; pass++) {
      Array.prototype.forEach.call(applyForm.querySelectorAll("[data-visible-when]"), function (element) {
        var group = element.closest("[data-field]");
        // A field with an error stays in sight: the person must see what to fix.
        if (group && !group.querySelector("[aria-invalid=true]")) {
          group.hidden = !allHold(element.getAttribute("data-visible-when"));
        }
      });
    }
  }

  if (applyForm) {
    applyForm.addEventListener("change", refresh);
    applyForm.addEventListener("input", refresh);
    refresh();
  }

  // -- documents ---------------------------------------------------------------------------

  var docs = document.querySelector("form[data-apply-documents]");

  // The first problem with the files chosen on a line, or "": the files already attached count
  // towards the line's limit, unless the one file chosen replaces the one attached.
  function fileProblem(input) {
    var attached = input.hasAttribute("data-replaces") ? 0 : (Number(input.getAttribute("data-attached")) || 0);
    return window.HamaynkChecks.fileProblem(input, attached);
  }

  function say(text) {
    var status = document.getElementById("upload-status");
    if (status) { status.textContent = text; }
  }

  function showProblem(input, problem) {
    var box = document.getElementById(input.id + "-check");
    if (box) { box.textContent = problem; }
    if (problem) {
      input.setAttribute("aria-invalid", "true");
    } else if (!document.getElementById(input.id + "-error")) {
      input.removeAttribute("aria-invalid");
    }
  }

  function swapChecklist(html, lineKey) {
    var current = document.getElementById("checklist");
    if (!current) { return; }
    var holder = document.createElement("div");
    holder.innerHTML = html;
    var fresh = holder.querySelector("#checklist");
    if (!fresh) { return; }
    current.parentNode.replaceChild(fresh, current);
    bindLines();
    var heading = document.getElementById("doc-" + lineKey + "-title");
    if (heading) { heading.focus(); }
  }

  // Send one line's chosen files (``input``), or a removal (``extra``), for line ``key``.
  function upload(input, extra, key) {
    var data = new FormData();
    data.append("csrf_token", docs.querySelector('[name="csrf_token"]').value);
    data.append("version", docs.querySelector('[name="version"]').value);
    data.append("action", "upload");
    if (input) {
      Array.prototype.forEach.call(input.files, function (file) { data.append(input.name, file); });
    }
    if (extra) { data.append(extra.name, extra.value); }
    var box = input ? document.getElementById(input.id + "-progress") : null;
    var bar = box ? box.querySelector("progress") : null;
    var percent = box ? box.querySelector(".upload-percent") : null;
    if (box) { box.hidden = false; }
    if (input) { input.disabled = true; }

    var xhr = new XMLHttpRequest();
    xhr.open("POST", docs.getAttribute("action"));
    xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", function (event) {
      if (!event.lengthComputable || !bar) { return; }
      var done = Math.round((event.loaded * 100) / event.total);
      bar.value = done;
      if (percent) { percent.textContent = done + "%"; }
      say(docs.getAttribute("data-uploading").replace("{percent}", done));
    });
    function failed(message) {
      if (input) {
        input.disabled = false;
        showProblem(input, message || docs.getAttribute("data-failed"));
      }
      if (box) { box.hidden = true; }
      say(message || docs.getAttribute("data-failed"));
    }
    xhr.addEventListener("load", function () {
      var answer = null;
      try { answer = JSON.parse(xhr.responseText); } catch (err) { answer = null; }
      if (xhr.status === 200 && answer && answer.html) {
        var refused = answer.refused && Object.keys(answer.refused).length;
        swapChecklist(answer.html, key);
        say(docs.getAttribute(refused ? "data-refused" : "data-uploaded"));
        return;
      }
      if (answer && answer.reload) { window.location.reload(); return; }
      failed(answer && answer.message);
    });
    xhr.addEventListener("error", function () { failed(); });
    xhr.addEventListener("abort", function () { failed(); });
    xhr.send(data);
  }

  function bindLines() {
    Array.prototype.forEach.call(docs.querySelectorAll(".upload-button"), function (button) {
      // Files go up as soon as they are chosen; the button is for pages without this script.
      button.style.display = "none";
    });
  }

  if (docs && window.FormData && window.XMLHttpRequest) {
    bindLines();
    docs.addEventListener("change", function (event) {
      var input = event.target;
      if (!input || input.type !== "file" || !input.files || !input.files.length) { return; }
      var problem = fileProblem(input);
      showProblem(input, problem);
      var line = input.closest("[data-document]");
      if (!problem) { upload(input, null, line ? line.getAttribute("data-document") : ""); }
    });
    docs.addEventListener("click", function (event) {
      var button = event.target.closest ? event.target.closest('button[name="remove"]') : null;
      if (!button) { return; }
      event.preventDefault();
      var line = button.closest("[data-document]");
      button.disabled = true;
      upload(null, { name: "remove", value: button.value }, line ? line.getAttribute("data-document") : "");
    });
    docs.addEventListener("submit", function (event) {
      // Continue / Save: files still chosen but refused here stay behind.
      var bad = Array.prototype.some.call(docs.querySelectorAll('input[type="file"]'), function (input) {
        return input.files && input.files.length && fileProblem(input);
      });
      if (bad) { event.preventDefault(); }
    });
  }

  // -- submitting once -----------------------------------------------------------------------

  Array.prototype.forEach.call(document.querySelectorAll("form[data-submit-once]"), function (form) {
    form.addEventListener("submit", function (event) {
      if (form.hasAttribute("data-sent")) { event.preventDefault(); return; }
      form.setAttribute("data-sent", "");
      var button = form.querySelector("button[type=submit]");
      if (button) {
        button.setAttribute("aria-disabled", "true");
        if (button.getAttribute("data-busy")) { button.textContent = button.getAttribute("data-busy"); }
      }
    });
  });
})();

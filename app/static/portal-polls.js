/* A budget vote's running total: what the marked projects cost together and what is left of
   the budget, updated as the voter marks them. Only a help: the server checks the sum again
   and refuses a ballot over the budget. Loaded as a file with the page's CSP nonce. */
(function () {
  "use strict";
  var form = document.querySelector("form[data-budget]");
  if (!form) { return; }
  var budget = Number(form.getAttribute("data-budget")) || 0;
  var sum = document.getElementById("budget-sum");
  var left = document.getElementById("budget-left");
  var over = document.getElementById("budget-over");
  // Digits grouped as the server groups them in this language (app.domain.formatting).
  var box = form.querySelector("[data-group]");
  var group = box ? box.getAttribute("data-group") : "\u00a0";
  function amd(value) {
    return String(value).replace(/\B(?=(\d{3})+(?!\d))/g, group) + "\u00a0\u058f";
  }
  function update() {
    var total = 0;
    var boxes = form.querySelectorAll("input[data-cost]");
    for (var i = 0; i < boxes.length; i += 1) {
      if (boxes[i].checked) { total += Number(boxes[i].getAttribute("data-cost")) || 0; }
    }
    if (sum) { sum.textContent = amd(total); }
    if (left) { left.textContent = amd(Math.max(budget - total, 0)); }
    if (over) { over.hidden = total <= budget; }
  }
  form.addEventListener("change", update);
  update();
}());

/* The poll form (app/templates/admin/polls/form.html) works without this script; it only
   moves the focus to the list of problems after a refused save, and greys out "at most"
   while a question takes one option only. */
(function () {
  "use strict";
  var summary = document.getElementById("poll-errors");
  if (summary && !document.querySelector("#poll-form [autofocus]")) {
    summary.focus();
  }
  function sync(question) {
    var multi = question.querySelector("input[type=radio][value='1'][name$='-multiple']");
    var max = question.querySelector("input[name$='-max_choices']");
    if (multi && max) {
      max.disabled = !multi.checked;
    }
  }
  var questions = document.querySelectorAll(".poll-question");
  Array.prototype.forEach.call(questions, function (question) {
    sync(question);
    question.addEventListener("change", function (event) {
      if (event.target.name && /-multiple$/.test(event.target.name)) {
        sync(question);
      }
    });
  });
})();

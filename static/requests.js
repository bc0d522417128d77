// On a request form that offers "all my data" or chosen categories: ticking a category chooses
// "only the categories I choose", and choosing "all" clears the ticks, so the two never disagree.
// Without JavaScript the form still works: "all" wins over stray ticks.
(function () {
  "use strict";
  var form = document.querySelector("form[data-scope-form]");
  if (!form) { return; }
  var all = form.querySelector('input[name="scope"][value="all"]');
  var chosen = form.querySelector('input[name="scope"][value="chosen"]');
  var boxes = form.querySelectorAll('input[name="categories"]');
  if (!all || !chosen) { return; }

  Array.prototype.forEach.call(boxes, function (box) {
    box.addEventListener("change", function () {
      if (box.checked) { chosen.checked = true; }
    });
  });
  all.addEventListener("change", function () {
    if (all.checked) {
      Array.prototype.forEach.call(boxes, function (box) { box.checked = false; });
    }
  });
}());

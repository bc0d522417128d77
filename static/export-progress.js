// Keeps an export's progress bar current by polling its small JSON endpoint (same origin, no
// inline script). Without JavaScript the page shows the state on reload.
(function () {
  "use strict";
  var box = document.querySelector("[data-progress-url]");
  if (!box || !window.fetch) { return; }
  var bar = box.querySelector("progress");
  var text = box.querySelector(".export-progress-text");
  var url = box.getAttribute("data-progress-url");
  var doneUrl = box.getAttribute("data-done-url");
  var delay = 1000;

  function number(n) { return Number(n).toLocaleString("en"); }

  function show(s) {
    if (s.percent !== null && s.percent !== undefined) { bar.value = s.percent; bar.textContent = s.percent + "%"; }
    if (s.total) {
      text.textContent = (s.percent || 0) + "% \u2014 " + number(s.done) + " of " + number(s.total) + " items";
    }
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (s) {
        show(s);
        if (s.state === "ready" || s.state === "failed" || s.state === "expired" || s.state === "erased") {
          window.location.assign(doneUrl);
          return;
        }
        delay = 1000;
        window.setTimeout(poll, delay);
      })
      .catch(function () {
        delay = Math.min(delay * 2, 15000);  // the server is busy or we are offline: back off
        window.setTimeout(poll, delay);
      });
  }
  window.setTimeout(poll, delay);
})();

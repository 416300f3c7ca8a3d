// The order page while a payment is being confirmed: ask every 1.5 s whether the order moved,
// reload when it did; stop after two minutes (the e-mail follows anyway).
(function () {
  "use strict";
  var box = document.getElementById("order");
  if (!box || box.dataset.waiting !== "yes") return;
  var started = Date.now();
  function tick() {
    if (Date.now() - started > 120000) return;
    fetch(window.location.pathname + "/status", { headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (s) {
        if (s && s.status !== box.dataset.status) { window.location.reload(); return; }
        setTimeout(tick, 1500);
      }, function () { setTimeout(tick, 3000); });
  }
  setTimeout(tick, 1000);
})();

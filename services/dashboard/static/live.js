// Live refresh for an order page whose payment or refund is still settling: reloads every
// three seconds while nobody is typing in a form, for at most two minutes. Without JavaScript
// the page is the same, only not refreshed.
(function () {
  var started = Date.now();
  function typing() {
    var a = document.activeElement;
    return a && (a.tagName === "INPUT" || a.tagName === "SELECT" || a.tagName === "TEXTAREA");
  }
  function tick() {
    if (Date.now() - started > 120000) return;
    if (!typing() && !document.hidden) { window.location.reload(); return; }
    setTimeout(tick, 3000);
  }
  setTimeout(tick, 3000);
})();

// Live progress of a campaign over Server-Sent Events: updates the counters,
// the progress bar and a line of deliveries per minute, and reloads the page
// when the campaign's state changes, so the controls match it. The page works
// without it; it is the console's only script.
"use strict";
(function () {
  var live = document.getElementById("live");
  if (!live || !window.EventSource) { return; }
  var state = live.getAttribute("data-state");
  if (state === "done" || state === "canceled") { return; }
  var points = []; // [seconds, delivered]
  var set = function (id, v) { var e = document.getElementById(id); if (e) { e.textContent = String(v); } };
  var draw = function () {
    var line = document.querySelector("#rate-live polyline");
    if (!line || points.length < 2) { return; }
    var rates = [];
    for (var i = 1; i < points.length; i++) {
      var dt = points[i][0] - points[i - 1][0];
      rates.push(dt > 0 ? (points[i][1] - points[i - 1][1]) * 60 / dt : 0);
    }
    var top = Math.max.apply(null, rates.concat([1]));
    var step = 600 / Math.max(rates.length - 1, 1);
    line.setAttribute("points", rates.map(function (r, i) { return (i * step).toFixed(1) + "," + (78 - r * 74 / top).toFixed(1); }).join(" "));
    set("rate-now", Math.round(rates[rates.length - 1]));
  };
  var es = new EventSource(live.getAttribute("data-live"));
  es.addEventListener("progress", function (m) {
    var d = JSON.parse(m.data);
    set("c-audience", d.audience); set("c-delivered", d.delivered); set("c-suppressed", d.suppressed);
    set("c-failed", d.failed); set("c-queued", d.queued); set("c-waiting", d.waiting);
    set("c-duplicates", d.duplicates); set("c-canceled", d.canceled);
    var bar = document.getElementById("progress");
    if (bar) { bar.value = d.progress; bar.textContent = (d.progress * 100).toFixed(1) + " %"; }
    set("progress-text", (d.progress * 100).toFixed(1));
    var st = document.getElementById("state");
    if (st) { st.textContent = d.state_text; st.setAttribute("data-state", d.state); }
    points.push([Date.parse(d.at) / 1000, d.delivered]);
    if (points.length > 61) { points.shift(); }
    draw();
    if (d.state !== state) { es.close(); window.location.reload(); }
  });
})();

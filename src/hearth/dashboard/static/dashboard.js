// Hearth dashboard: the little the server-rendered pages need from a script.
// - forms with data-confirm ask first (the alias weight slider, disabling a function);
// - the weight slider shows the split it would set while it moves;
// - the live log page follows the log store (server-sent events) and appends lines (as text, never as markup).
(function () {
  "use strict";

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });

  function showSplit(form) {
    var range = form.querySelector("input[type=range]");
    var extra = form.querySelector("select[name=version]");
    var out = form.querySelector("output.preview");
    if (!range || !out) return;
    var weight = parseInt(range.value, 10);
    var main = form.getAttribute("data-main");
    out.textContent = main + ": " + (100 - weight) + "% · " + (extra ? extra.value : "") + ": " + weight + "%";
  }

  document.querySelectorAll("form.weight").forEach(function (form) {
    form.addEventListener("input", function () { showSplit(form); });
    showSplit(form);
  });

  var log = document.getElementById("live-log");
  if (!log) return;
  var follow = document.getElementById("follow");
  var stream = log.getAttribute("data-stream");
  var seen = new Set();
  var latest = null;  // the newest line's time: where a reopened stream starts
  var source = null;
  var MAX_LINES = 2000;
  log.querySelectorAll("li[data-key]").forEach(function (item) { seen.add(item.getAttribute("data-key")); });

  function stamp(seconds) {
    return new Date(seconds * 1000).toISOString().replace("T", " ").slice(0, 19);
  }

  function line(text, key, className) {
    var item = document.createElement("li");
    if (key) item.setAttribute("data-key", key);
    if (className) item.className = className;
    item.textContent = text;
    log.appendChild(item);
    while (log.children.length > MAX_LINES) {
      seen.delete(log.firstElementChild.getAttribute("data-key"));
      log.removeChild(log.firstElementChild);
    }
    return item;
  }

  function append(entry) {
    if (seen.has(entry.key)) return;
    seen.add(entry.key);
    latest = latest === null ? entry.time : Math.max(latest, entry.time);
    var item = line("", entry.key, "");
    var time = document.createElement("time");
    time.textContent = stamp(entry.time);
    var fn = document.createElement("span");
    fn.className = "fn";
    fn.textContent = "[" + entry.function + "]";
    item.appendChild(time);
    item.appendChild(document.createTextNode(" "));
    item.appendChild(fn);
    item.appendChild(document.createTextNode(" " + entry.message));
  }

  function open() {
    var target = new URL(stream, window.location.href);
    if (latest !== null) target.searchParams.set("since", String(latest));
    source = new EventSource(target.pathname + target.search);
    source.onmessage = function (event) { JSON.parse(event.data).forEach(append); };
    source.addEventListener("lost", function (event) {
      line("[hearth] " + JSON.parse(event.data).count + " log entries lost: this page fell behind", null, "lost");
    });
  }

  function close() {
    if (source) source.close();
    source = null;
  }

  if (follow) {
    follow.addEventListener("change", function () { if (follow.checked) { open(); } else { close(); } });
  }
  window.addEventListener("pagehide", close);
  open();
})();

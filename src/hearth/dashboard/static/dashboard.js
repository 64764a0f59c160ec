// Hearth dashboard: the little the server-rendered pages need from a script.
// - forms with data-confirm ask first (the alias weight slider, disabling a function);
// - the weight slider shows the split it would set while it moves;
// - the live log page asks for new lines every second and appends them (as text, never as markup).
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
  var feed = log.getAttribute("data-feed");
  var seen = new Set();
  var MAX_LINES = 2000;
  log.querySelectorAll("li[data-key]").forEach(function (item) { seen.add(item.getAttribute("data-key")); });

  function stamp(seconds) {
    return new Date(seconds * 1000).toISOString().replace("T", " ").slice(0, 19);
  }

  function append(line) {
    if (seen.has(line.key)) return;
    seen.add(line.key);
    var item = document.createElement("li");
    item.setAttribute("data-key", line.key);
    var time = document.createElement("time");
    time.textContent = stamp(line.time);
    var fn = document.createElement("span");
    fn.className = "fn";
    fn.textContent = "[" + line.function + "]";
    item.appendChild(time);
    item.appendChild(document.createTextNode(" "));
    item.appendChild(fn);
    item.appendChild(document.createTextNode(" " + line.message));
    log.appendChild(item);
    while (log.children.length > MAX_LINES) {
      seen.delete(log.firstElementChild.getAttribute("data-key"));
      log.removeChild(log.firstElementChild);
    }
  }

  function poll() {
    if (follow && !follow.checked) {
      window.setTimeout(poll, 1000);
      return;
    }
    fetch(feed, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (answer) {
        if (answer) {
          answer.lines.forEach(append);
          var next = new URL(feed, window.location.href);
          next.searchParams.set("since", String(answer.since));
          feed = next.pathname + next.search;
          log.setAttribute("data-feed", feed);
        }
      })
      .catch(function () { /* the platform restarting: try again next second */ })
      .finally(function () { window.setTimeout(poll, 1000); });
  }
  window.setTimeout(poll, 1000);
})();

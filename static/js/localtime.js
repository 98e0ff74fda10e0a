// Times in the viewer's own zone, named: every <time class="local"> (web/times.py) and
// every <time datetime> whose text is a UTC time.  Without this file they stay in UTC,
// labelled so.  htmx's swapped fragments are converted as they arrive.
(function () {
  "use strict";
  var zone = "";
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { zone = ""; }

  function parts(style) {
    if (style === "date") return { day: "2-digit", month: "short", year: "numeric" };
    if (style === "time") return { hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short" };
    return { day: "2-digit", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short" };
  }

  function convert(root) {
    if (!root || !root.querySelectorAll) return;
    var found = root.querySelectorAll("time.local, time[datetime]");
    for (var i = 0; i < found.length; i++) {
      var el = found[i];
      if (el.dataset.localised) continue;
      var isLocal = el.classList.contains("local");
      if (!isLocal && !/ UTC$/.test(el.textContent.trim())) continue;
      var at = new Date(el.getAttribute("datetime"));
      if (isNaN(at.getTime())) continue;
      var style = el.dataset.style || (/\d\d:\d\d:\d\d UTC$/.test(el.textContent) ? "time" : "datetime");
      el.title = el.textContent.trim() + (zone ? " (your zone: " + zone + ")" : "");
      el.textContent = new Intl.DateTimeFormat(undefined, parts(style)).format(at);
      el.dataset.localised = "1";
    }
  }

  document.addEventListener("DOMContentLoaded", function () { convert(document); });
  document.addEventListener("htmx:load", function (event) { convert(event.detail.elt); });
})();

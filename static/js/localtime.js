// Times in the viewer's own zone, named: every <time class="local"> (web/times.py) and
// every <time datetime> whose text is a UTC time.  Without this file they stay in UTC,
// labelled so.  htmx's swapped fragments are converted as they arrive.  The site's
// datetime-local fields (UTC) show and take local time (see localInputs).
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

  // A datetime-local field of the site holds UTC (its label says so).  Here it shows and
  // takes the viewer's own time, and is written back in UTC just before the form is sent.
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function field(d) {
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + "T" +
      pad(d.getHours()) + ":" + pad(d.getMinutes());
  }
  function utcField(d) {
    return d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) + "T" +
      pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes());
  }
  function localInputs(root) {
    var inputs = root.querySelectorAll ? root.querySelectorAll("input[type=datetime-local]") : [];
    for (var i = 0; i < inputs.length; i++) {
      var input = inputs[i];
      var label = input.id && document.querySelector("label[for='" + input.id + "']");
      if (input.dataset.local || !label || !/UTC/.test(label.textContent)) continue;
      if (input.value) {
        var at = new Date(input.value + "Z");
        if (!isNaN(at.getTime())) input.value = field(at);
      }
      label.textContent = label.textContent.replace("UTC", "your time" + (zone ? ", " + zone : ""));
      var hint = document.getElementById(input.id + "-hint");
      if (hint && /UTC/.test(hint.textContent)) {
        hint.textContent = "Your own time" + (zone ? " (" + zone + ")" : "") + "; it is stored in UTC.";
      }
      input.dataset.local = "1";
    }
  }
  document.addEventListener("submit", function (event) {
    var inputs = event.target.querySelectorAll("input[data-local]");
    for (var i = 0; i < inputs.length; i++) {
      var input = inputs[i];
      if (!input.value) continue;
      var at = new Date(input.value);  // read as the viewer's local time
      if (!isNaN(at.getTime())) input.value = utcField(at);
      delete input.dataset.local;  // a form shown again converts afresh
    }
  }, true);

  document.addEventListener("DOMContentLoaded", function () { convert(document); localInputs(document); });
  document.addEventListener("htmx:load", function (event) {
    convert(event.detail.elt);
    localInputs(event.detail.elt);
  });
})();

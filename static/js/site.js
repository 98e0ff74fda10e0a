// Small behaviour on top of htmx.  Everything works without this file: it says
// something when an htmx request fails instead of failing silently, shows times in the
// viewer's own zone, and helps organisers (a copy button, the slug from the name).
(function () {
  "use strict";

  function show(message) {
    var box = document.getElementById("live-error");
    if (!box) return;
    box.textContent = message;
    box.hidden = false;
  }

  function hide() {
    var box = document.getElementById("live-error");
    if (box && !box.hidden) {
      box.hidden = true;
      box.textContent = "";
    }
  }

  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    var status = xhr ? xhr.status : 0;
    if (status === 429) {
      show("Too many requests; slow down and try again in a minute.");
    } else if (status === 400) {
      show("The form expired. Reload the page and try again.");
    } else if (status === 403) {
      show("You are not allowed to do that.");
    } else if (status === 404) {
      show("That is no longer here. Reload the page.");
    } else {
      show("Something went wrong (" + status + "). Reload the page and try again.");
    }
  });

  document.addEventListener("htmx:sendError", function () {
    show("Could not reach the server. Check your connection; nothing was changed.");
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    if (event.detail.successful) hide();
  });
})();

// ---- Times in the viewer's zone (web/times.py) ----
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

// ---- Organisers' helps ----
// Organisers' small helps; everything works without this file.
//  - A button with data-copy="#id" copies that field's text (and says so); it stays
//    hidden without JavaScript, where the field can be selected and copied by hand.
//  - On the new-competition form, the slug follows the name until it is edited by hand.
(function () {
  "use strict";

  function slugify(text) {
    return text.normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase()
      .replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 40).replace(/-+$/g, "");
  }

  function copy(button) {
    var field = document.querySelector(button.dataset.copy);
    if (!field) return;
    var text = field.value || field.textContent;
    var done = function () {
      var label = button.dataset.label || button.textContent;
      button.dataset.label = label;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 2000);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { field.select(); });
    } else {
      field.focus();
      field.select();
      try { if (document.execCommand("copy")) done(); } catch (e) { /* selected: copy by hand */ }
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var buttons = document.querySelectorAll("button[data-copy]");
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].hidden = false;
      buttons[i].addEventListener("click", function (event) { copy(event.currentTarget); });
    }
    var name = document.querySelector("form[data-slug-from] input[name=name]");
    var slug = document.querySelector("form[data-slug-from] input[name=slug]");
    if (name && slug) {
      var follow = !slug.value;
      slug.addEventListener("input", function () { follow = !slug.value; });
      name.addEventListener("input", function () { if (follow) slug.value = slugify(name.value); });
    }
  });
})();

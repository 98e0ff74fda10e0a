// Small behaviour on top of htmx.  Everything works without this file; it only
// says something when an htmx request fails instead of failing silently.
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

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

/* tillit form embed: one tag on a website renders a tillit form after itself and posts it.
 *
 *   <script src="https://<tillit>/forms/embed.js" data-tillit-form="<form id>" async></script>
 *
 * No inline script, no inline style, no eval: it works under a strict Content Security Policy
 * (the site allows this script's origin in script-src and connect-src). Consent boxes are
 * rendered unticked with the exact wording the form defines. Style it with the classes
 * tillit-form, tillit-field, tillit-consent, tillit-message.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) { return; }
  var formId = script.getAttribute("data-tillit-form");
  if (!formId) { return; }
  var origin = new URL(script.src, document.baseURI).origin;
  var definitionUrl = origin + "/forms/" + encodeURIComponent(formId) + "/definition.json";

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (text) { node.textContent = text; }
    return node;
  }

  function render(def) {
    var form = el("form", { "class": "tillit-form", lang: def.language, novalidate: "" });
    var prefix = "tillit-" + def.id.slice(0, 8) + "-";
    def.fields.forEach(function (field) {
      var wrap = el("p", { "class": "tillit-field" });
      var labelText = field.label + (field.required ? " (" + def.texts.required + ")" : "");
      if (field.options) {
        var set = el("fieldset", { "class": "tillit-field" });
        set.appendChild(el("legend", {}, labelText));
        field.options.forEach(function (option, i) {
          var id = prefix + field.name + "-" + i;
          var line = el("p");
          line.appendChild(el("input", { type: "checkbox", id: id, name: field.name, value: option }));
          line.appendChild(el("label", { "for": id }, option));
          set.appendChild(line);
        });
        form.appendChild(set);
        return;
      }
      var id = prefix + field.name;
      wrap.appendChild(el("label", { "for": id }, labelText));
      wrap.appendChild(el("br"));
      var input = field.multiline
        ? el("textarea", { id: id, name: field.name, rows: "5", maxlength: "5000" })
        : el("input", { id: id, name: field.name, type: field.type });
      if (field.required) { input.setAttribute("required", ""); }
      wrap.appendChild(input);
      form.appendChild(wrap);
    });
    def.consents.forEach(function (box) {
      var id = prefix + box.name;
      var line = el("p", { "class": "tillit-consent" });
      line.appendChild(el("input", { type: "checkbox", id: id, name: box.name }));
      line.appendChild(el("label", { "for": id }, box.wording));
      form.appendChild(line);
    });
    var trap = el("div", { hidden: "", "aria-hidden": "true" });
    trap.appendChild(el("input", { name: def.honeypot, tabindex: "-1", autocomplete: "off" }));
    form.appendChild(trap);
    var message = el("p", { "class": "tillit-message", role: "status" });
    form.appendChild(message);
    form.appendChild(el("button", { type: "submit" }, def.texts.submit));
    var privacy = el("p", { "class": "tillit-privacy" });
    privacy.appendChild(el("a", { href: def.privacy_url, target: "_blank", rel: "noopener" }, def.texts.privacy));
    form.appendChild(privacy);

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var answers = {};
      def.fields.forEach(function (field) {
        if (field.options) {
          answers[field.name] = Array.prototype.slice
            .call(form.querySelectorAll("input[name='" + field.name + "']:checked"))
            .map(function (box) { return box.value; });
        } else {
          answers[field.name] = form.elements[field.name].value;
        }
      });
      def.consents.forEach(function (box) { answers[box.name] = form.elements[box.name].checked; });
      answers[def.honeypot] = form.elements[def.honeypot].value;
      fetch(def.submit_url, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(answers),
        credentials: "omit"
      }).then(function (response) {
        return response.json().then(function (body) { return { ok: response.ok, body: body }; });
      }).then(function (result) {
        if (result.ok) {
          var thanks = el("p", { "class": "tillit-message", role: "status" }, def.texts.thanks);
          form.replaceWith(thanks);
          return;
        }
        var label = "";
        def.fields.forEach(function (field) { if (field.name === result.body.field) { label = field.label; } });
        message.textContent = def.texts.error + (label ? " " + label : "");
      }).catch(function () { message.textContent = def.texts.error; });
    });
    script.insertAdjacentElement("afterend", form);
  }

  fetch(definitionUrl, { credentials: "omit" })
    .then(function (response) { return response.ok ? response.json() : null; })
    .then(function (def) { if (def) { render(def); } });
})();

/*
 * The cookie banner of tillit (privacy policy §15). First-party, no inline script or style.
 *
 * Include it with one tag, on our own pages or on the company website:
 *   <script src="https://<tillit>/static/public/cookies.js" data-lang="nb" defer></script>
 * Any element with the attribute data-tillit-cookie-settings (a footer link) re-opens it.
 *
 * Nothing but necessary cookies is set before a choice. Reject is as easy as Accept (same
 * layer, same look). A choice is recorded on the server as proof; the server sets or clears
 * the cookies, and this script clears those of categories no longer allowed that it can see.
 * With Global Privacy Control the banner does not ask on its own.
 * Other scripts may ask window.tillitCookies.allows("functional") or listen for the
 * "tillit:cookies" event on document. With the functional category accepted, our forms
 * (data-tillit-remember) are pre-filled from this browser's own storage (see FIELDS below).
 */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script || window.tillitCookies) {
    return;
  }
  var base = new URL(script.src, window.location.href).origin;
  var lang = script.getAttribute("data-lang") || document.documentElement.lang || "en";
  var gpc = navigator.globalPrivacyControl === true;
  var state = null;
  var root = null;

  function query(extra) {
    var params = new URLSearchParams(extra || {});
    params.set("lang", lang);
    if (gpc) {
      params.set("gpc", "1");
    }
    return params;
  }

  function request(url, body) {
    var options = { credentials: "include", headers: { Accept: "application/json" } };
    if (body) {
      options.method = "POST";
      options.body = body;
    }
    return fetch(url, options).then(function (response) {
      if (!response.ok) {
        throw new Error("tillit cookies: " + response.status);
      }
      return response.json();
    });
  }

  function element(tag, attributes, text) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) {
      node.setAttribute(name, attributes[name]);
    });
    if (text) {
      node.textContent = text;
    }
    return node;
  }

  function clearCookies(names) {
    names.forEach(function (name) {
      document.cookie = name + "=; Max-Age=0; path=/; SameSite=Lax";
      try {
        window.localStorage.removeItem(name);
      } catch (ignored) {
        /* storage may be blocked */
      }
    });
  }

  // The functional cookie (§15): "so you don't have to fill in the same fields again". A form
  // marked data-tillit-remember keeps the fields marked data-tillit-remember-field (who you
  // are, how to reach you; never answers or consent boxes) in this browser's own storage
  // under the declared name, only while the category holding that name is accepted. The
  // values never leave the browser. A withdrawal lists the name in state.clear, and
  // clearCookies forgets them. A page opened from a shared link (any query other than
  // ?lang=, or a fragment) is never pre-filled: the link may reach someone else.
  var FIELDS = "tillit_fields";

  function fieldsCategory() {
    var found = null;
    (state.texts.categories || []).forEach(function (category) {
      (category.cookies || []).forEach(function (cookie) {
        if (cookie.name === FIELDS) {
          found = category;
        }
      });
    });
    return found;
  }

  function fieldsAllowed() {
    var category = fieldsCategory();
    return !!category && state.allowed.indexOf(category.key) !== -1;
  }

  function fieldsLifetime() {
    var days = 0;
    var category = fieldsCategory();
    (category ? category.cookies : []).forEach(function (cookie) {
      if (cookie.name === FIELDS) {
        days = cookie.days;
      }
    });
    return days * 24 * 60 * 60 * 1000;
  }

  function readFields() {
    try {
      var saved = JSON.parse(window.localStorage.getItem(FIELDS) || "null");
      if (!saved || typeof saved.fields !== "object" || Date.now() - saved.saved_at > fieldsLifetime()) {
        window.localStorage.removeItem(FIELDS);
        return null;
      }
      return saved.fields;
    } catch (ignored) {
      return null;
    }
  }

  function sharedLink() {
    var params = new URLSearchParams(window.location.search);
    params.delete("lang");
    return params.toString() !== "" || window.location.hash !== "";
  }

  function rememberForms() {
    document.querySelectorAll("form[data-tillit-remember]").forEach(function (form) {
      var inputs = form.querySelectorAll("[data-tillit-remember-field]");
      if (!form.hasAttribute("data-tillit-remember-ready")) {
        form.setAttribute("data-tillit-remember-ready", "");
        form.addEventListener("submit", function () {
          if (!state || !fieldsAllowed()) {
            return;
          }
          var fields = readFields() || {};
          inputs.forEach(function (input) {
            if (input.value.trim()) {
              fields[input.name] = input.value.trim();
            }
          });
          try {
            window.localStorage.setItem(FIELDS, JSON.stringify({ saved_at: Date.now(), fields: fields }));
          } catch (ignored) {
            /* storage may be blocked or full: nothing is remembered */
          }
        });
      }
      if (!fieldsAllowed() || sharedLink()) {
        return;
      }
      var remembered = readFields();
      if (!remembered) {
        return;
      }
      inputs.forEach(function (input) {
        if (!input.value && typeof remembered[input.name] === "string") {
          input.value = remembered[input.name];
        }
      });
      form.setAttribute("data-tillit-remembered", "");
    });
  }

  function announce() {
    document.dispatchEvent(new CustomEvent("tillit:cookies", { detail: { allowed: state.allowed.slice() } }));
  }

  function countVisit() {
    if (!state.statistics || state.allowed.indexOf(state.statistics) === -1) {
      return;
    }
    var body = query({ url: window.location.href, referrer: document.referrer || "" });
    request(state.visit_url, body).catch(function () {});
  }

  function choose(categories) {
    var body = query({ wording: state.wording });
    categories.forEach(function (key) {
      body.append("categories", key);
    });
    return request(state.choice_url, body).then(function (next) {
      state = next;
      clearCookies(state.clear);
      rememberForms();
      close(state.texts.saved);
      announce();
      countVisit();
    });
  }

  function close(message) {
    if (!root) {
      return;
    }
    root.hidden = true;
    var status = document.getElementById("tillit-cookies-status");
    if (status && message) {
      status.textContent = message;
    }
  }

  function buttons(texts) {
    var row = element("div", { class: "tillit-cookies__buttons" });
    [
      ["reject", texts.reject],
      ["accept", texts.accept],
      ["settings", texts.settings],
    ].forEach(function (pair) {
      row.appendChild(
        element("button", { type: "button", class: "tillit-cookies__button", "data-action": pair[0] }, pair[1])
      );
    });
    return row;
  }

  function settingsForm(texts) {
    var form = element("form", { class: "tillit-cookies__settings", "data-layer": "settings" });
    form.hidden = true;
    form.appendChild(element("h3", { class: "tillit-cookies__subtitle" }, texts.settings_title));
    texts.categories.forEach(function (category) {
      var id = "tillit-cookie-" + category.key;
      var box = element("div", { class: "tillit-cookies__category" });
      var label = element("label", { for: id, class: "tillit-cookies__label" });
      var input = element("input", { type: "checkbox", id: id, name: "categories", value: category.key });
      if (category.required) {
        input.checked = true;
        input.disabled = true;
      } else {
        input.checked = state.allowed.indexOf(category.key) !== -1;
      }
      label.appendChild(input);
      label.appendChild(document.createTextNode(" " + category.label));
      if (category.required) {
        label.appendChild(element("span", { class: "tillit-cookies__always" }, " (" + texts.always_on + ")"));
      }
      box.appendChild(label);
      box.appendChild(element("p", { class: "tillit-cookies__description" }, category.description));
      var details = element("details");
      details.appendChild(element("summary", {}, texts.cookie_list));
      var list = element("ul");
      category.cookies.forEach(function (cookie) {
        list.appendChild(element("li", {}, cookie.name + ": " + cookie.purpose + " (" + cookie.days + " " + texts.days + ")"));
      });
      details.appendChild(list);
      box.appendChild(details);
      form.appendChild(box);
    });
    var row = element("div", { class: "tillit-cookies__buttons" });
    row.appendChild(element("button", { type: "submit", class: "tillit-cookies__button", "data-action": "save" }, texts.save));
    row.appendChild(element("button", { type: "button", class: "tillit-cookies__button", "data-action": "reject" }, texts.reject));
    form.appendChild(row);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var granted = [];
      form.querySelectorAll("input[name=categories]:checked:not(:disabled)").forEach(function (input) {
        granted.push(input.value);
      });
      choose(granted);
    });
    return form;
  }

  function build() {
    var texts = state.texts;
    root = element("section", {
      class: "tillit-cookies",
      role: "dialog",
      "aria-modal": "false",
      "aria-labelledby": "tillit-cookies-title",
      lang: state.lang,
      "data-testid": "cookie-banner",
    });
    root.hidden = true;
    var panel = element("div", { class: "tillit-cookies__panel", tabindex: "-1" });
    panel.appendChild(element("h2", { id: "tillit-cookies-title", class: "tillit-cookies__title" }, texts.title));
    panel.appendChild(element("p", {}, texts.intro));
    var gpcNote = element("p", { class: "tillit-cookies__note", "data-note": "gpc" }, texts.gpc);
    gpcNote.hidden = !state.gpc;
    panel.appendChild(gpcNote);
    var changedNote = element("p", { class: "tillit-cookies__note", "data-note": "changed" }, texts.changed);
    changedNote.hidden = !state.changed;
    panel.appendChild(changedNote);
    // A choice older than the policy's validity (cookie_choice_months) no longer counts.
    var expiredNote = element("p", { class: "tillit-cookies__note", "data-note": "expired" }, texts.expired);
    expiredNote.hidden = !state.expired;
    panel.appendChild(expiredNote);
    var link = element("p");
    link.appendChild(element("a", { href: state.privacy_url }, texts.notice));
    panel.appendChild(link);
    panel.appendChild(buttons(texts));
    panel.appendChild(settingsForm(texts));
    root.appendChild(panel);
    root.addEventListener("click", function (event) {
      var target = event.target.closest("[data-action]");
      if (!target || target.getAttribute("data-action") === "save") {
        return;
      }
      var action = target.getAttribute("data-action");
      if (action === "accept") {
        choose(state.texts.categories.filter(function (c) { return !c.required; }).map(function (c) { return c.key; }));
      } else if (action === "reject") {
        choose([]);
      } else if (action === "settings") {
        showSettings();
      }
    });
    document.body.appendChild(root);
    var status = element("p", { id: "tillit-cookies-status", class: "tillit-cookies__status", role: "status" });
    document.body.appendChild(status);
  }

  function showSettings() {
    var form = root.querySelector("[data-layer=settings]");
    form.querySelectorAll("input[name=categories]:not(:disabled)").forEach(function (input) {
      input.checked = state.allowed.indexOf(input.value) !== -1;
    });
    form.hidden = false;
    var first = form.querySelector("input:not(:disabled)");
    if (first) {
      first.focus();
    }
  }

  function open(withSettings) {
    if (!state) {
      return;
    }
    root.hidden = false;
    if (withSettings) {
      showSettings();
    } else {
      root.querySelector(".tillit-cookies__panel").focus();
    }
  }

  function wireLinks() {
    document.addEventListener("click", function (event) {
      var link = event.target.closest("[data-tillit-cookie-settings]");
      if (!link || !state) {
        return;
      }
      event.preventDefault();
      open(true);
    });
  }

  function ensureStylesheet() {
    var href = state.stylesheet;
    var present = Array.prototype.some.call(document.querySelectorAll("link[rel=stylesheet]"), function (node) {
      return node.href === href;
    });
    if (!present) {
      document.head.appendChild(element("link", { rel: "stylesheet", href: href }));
    }
  }

  window.tillitCookies = {
    allows: function (category) {
      return !!state && state.allowed.indexOf(category) !== -1;
    },
    open: function () {
      open(true);
    },
  };

  wireLinks();
  request(base + "/cookies/state?" + query().toString())
    .then(function (first) {
      state = first;
      ensureStylesheet();
      clearCookies(state.clear);
      rememberForms();
      build();
      document.documentElement.setAttribute("data-tillit-cookies", "ready");
      announce();
      if (state.ask) {
        open(false);
      } else {
        countVisit();
      }
    })
    .catch(function () {
      /* without the server's answer nothing optional is set: the safe default */
    });
})();

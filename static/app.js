// flowkv web UI: progressive enhancement of server-rendered pages. Every
// form works without this script; with it, JSON is checked before it is
// sent, textareas become highlighting editors, and flows are built by drag
// and drop. No inline scripts: the Content-Security-Policy forbids them.
(function () {
  "use strict";

  // jsonProblem returns "" when text is valid JSON, else the parse error
  // with its line and column (found by errorOffset: browsers' messages do
  // not always say where).
  function jsonProblem(text) {
    try { JSON.parse(text); return ""; } catch (e) {
      var pos = errorOffset(text), before = text.slice(0, pos);
      var line = before.split("\n").length, col = pos - before.lastIndexOf("\n");
      return "Invalid JSON at line " + line + ", column " + col + ": " + String(e.message || e);
    }
  }

  // errorOffset scans text as JSON and returns the offset of the first
  // character that does not fit.
  function errorOffset(text) {
    var i = 0;
    function ws() { while (i < text.length && " \t\r\n".indexOf(text[i]) >= 0) i++; }
    function fail() { throw i; }
    function lit(w) { if (text.substr(i, w.length) !== w) fail(); i += w.length; }
    function str() {
      i++;
      while (i < text.length && text[i] !== '"') {
        if (text.charCodeAt(i) < 32) fail();
        if (text[i] === "\\") i++;
        i++;
      }
      if (i >= text.length) fail();
      i++;
    }
    function num() {
      var m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(i));
      if (!m || !m[0]) fail();
      i += m[0].length;
    }
    function value() {
      ws();
      var c = text[i];
      if (c === "{") {
        i++; ws();
        if (text[i] === "}") { i++; return; }
        for (;;) {
          ws(); if (text[i] !== '"') fail(); str(); ws();
          if (text[i] !== ":") fail(); i++; value(); ws();
          if (text[i] === ",") { i++; continue; }
          if (text[i] === "}") { i++; return; }
          fail();
        }
      } else if (c === "[") {
        i++; ws();
        if (text[i] === "]") { i++; return; }
        for (;;) {
          value(); ws();
          if (text[i] === ",") { i++; continue; }
          if (text[i] === "]") { i++; return; }
          fail();
        }
      } else if (c === '"') str();
      else if (c === "t") lit("true");
      else if (c === "f") lit("false");
      else if (c === "n") lit("null");
      else num();
    }
    try { value(); ws(); if (i < text.length) fail(); } catch (at) { return typeof at === "number" ? at : i; }
    return i;
  }

  // all returns the elements matching sel in root, root itself included.
  function all(root, sel) {
    var out = Array.prototype.slice.call(root.querySelectorAll(sel));
    if (root.matches && root.matches(sel)) out.unshift(root);
    return out;
  }

  // accessibleName is the name of a form control as its label gives it:
  // aria-label, a <label for>, or the text of the label around it.
  function accessibleName(el) {
    if (el.getAttribute("aria-label")) return el.getAttribute("aria-label");
    var lab = (el.labels && el.labels[0]) || el.closest("label");
    if (!lab) return "";
    var first = lab.querySelector("span");
    return ((first || lab).textContent || "").replace(/\s+/g, " ").replace(/\s*\*$/, "").trim();
  }

  function attachEditors(root) {
    if (!window.FlowkvEditor) return;
    all(root, "textarea[data-editor]").forEach(function (ta) {
      var view = window.FlowkvEditor.attach(ta, ta.dataset.editor);
      // The editable element replaces the textarea for assistive
      // technology: it takes the textarea's name.
      var name = accessibleName(ta);
      if (view && view.contentDOM && name) view.contentDOM.setAttribute("aria-label", name);
    });
  }

  function validateForms(root) {
    all(root, "form[data-validate-json]").forEach(function (form) {
      if (form.dataset.bound) return;
      form.dataset.bound = "1";
      form.addEventListener("submit", function (ev) {
        var ta = form.elements[form.dataset.validateJson];
        var out = form.querySelector(".hint.err");
        var problem = ta ? jsonProblem(ta.value) : "";
        if (problem) {
          ev.preventDefault();
          if (out) { out.textContent = problem; out.hidden = false; }
        }
      });
    });
  }

  function bulkSelection(root) {
    root.querySelectorAll("[data-select-all]").forEach(function (all) {
      var form = all.closest("form");
      all.addEventListener("change", function () {
        form.querySelectorAll("input[name=key]").forEach(function (cb) { cb.checked = all.checked; });
        update(form);
      });
    });
    root.querySelectorAll("form#bulk").forEach(function (form) {
      form.addEventListener("change", function () { update(form); });
      update(form);
    });
    function update(form) {
      var n = form.querySelectorAll("input[name=key]:checked").length;
      form.querySelectorAll("[data-needs-selection]").forEach(function (b) { b.disabled = n === 0; });
    }
  }

  // Fields of a block card carry data-show-when="field=a|b;other=c": the
  // field is shown when every named field of the same card has one of the
  // listed values.
  function applyShowWhen(card) {
    card.querySelectorAll("[data-show-when]").forEach(function (wrap) {
      var show = wrap.dataset.showWhen.split(";").every(function (cond) {
        var i = cond.indexOf("=");
        var input = card.querySelector("[data-field='" + cond.slice(0, i) + "']");
        if (!input) return true;
        var v = input.type === "checkbox" ? String(input.checked) : input.value;
        if (v.indexOf("{{") >= 0) return true;
        return cond.slice(i + 1).split("|").indexOf(v) >= 0;
      });
      wrap.hidden = !show;
    });
  }

  function refreshNamespaceOptions() {
    var ds = document.getElementById("flow-datastores"), list = document.getElementById("ds-options");
    if (!ds || !list) return;
    list.textContent = "";
    ds.value.split(",").map(function (s) { return s.trim(); }).filter(Boolean).forEach(function (n) {
      var o = document.createElement("option"); o.value = n; list.appendChild(o);
    });
  }

  function initCards(root) {
    all(root, ".blockcard").forEach(function (card) {
      if (card.dataset.bound) return;
      card.dataset.bound = "1";
      applyShowWhen(card);
      card.addEventListener("change", function () { applyShowWhen(card); });
      card.addEventListener("input", function () { applyShowWhen(card); });
      var rm = card.querySelector("[data-remove]");
      if (rm) rm.addEventListener("click", function () { card.remove(); });
    });
  }

  // Condition rows (the Data Store block's Search conditions, the store
  // browser's filter): "Add condition" copies the last row empty, × removes
  // a row (the last one is emptied instead, so one row always remains).
  function initConditions(root) {
    all(root, "[data-conditions]").forEach(function (box) {
      if (box.dataset.bound) return;
      box.dataset.bound = "1";
      var add = box.querySelector("[data-add-row]");
      if (add) {
        add.hidden = false;
        add.addEventListener("click", function () {
          var rows = box.querySelectorAll(".cond-row"), last = rows[rows.length - 1];
          var row = last.cloneNode(true);
          row.querySelectorAll("input").forEach(function (i) { i.value = ""; });
          row.querySelectorAll("select").forEach(function (s) { s.selectedIndex = 0; });
          last.after(row);
          var first = row.querySelector("input, select");
          if (first) first.focus();
        });
      }
      box.addEventListener("click", function (ev) {
        var b = ev.target.closest("[data-remove-row]");
        if (!b) return;
        var row = b.closest(".cond-row");
        if (box.querySelectorAll(".cond-row").length > 1) row.remove();
        else row.querySelectorAll("input").forEach(function (i) { i.value = ""; });
      });
    });
  }

  function initFlowEditor(root) {
    var list = root.querySelector ? root.querySelector("#blocks") : null;
    var palette = document.getElementById("palette-list");
    if (!list || !palette || !window.Sortable || list.dataset.bound) return;
    list.dataset.bound = "1";
    window.Sortable.create(palette, {
      group: { name: "flow", pull: "clone", put: false }, sort: false, animation: 150, forceFallback: true,
    });
    window.Sortable.create(list, {
      group: { name: "flow", pull: false, put: true }, handle: ".handle, .palette-item", animation: 150, forceFallback: true,
      onAdd: function (ev) {
        var item = ev.item, type = item.dataset.type;
        item.classList.add("palette-item");
        window.htmx.ajax("GET", cardURL(type), { target: item, swap: "outerHTML" });
      },
    });
    // A click on a palette item (or Enter/Space on it: they are buttons)
    // appends the block at the end; without this script the button posts
    // the form to /flow/add, which does the same on the server.
    palette.addEventListener("click", function (ev) {
      var btn = ev.target.closest("button.palette-add");
      if (!btn) return;
      ev.preventDefault();
      var holder = document.createElement("li");
      holder.className = "palette-item";
      list.appendChild(holder);
      list.classList.remove("empty-drop");
      window.htmx.ajax("GET", cardURL(btn.dataset.type), { target: holder, swap: "outerHTML" }).then(function () {
        var cards = list.querySelectorAll(".blockcard"), card = cards[cards.length - 1];
        var first = card && card.querySelector("input[data-field='id']");
        if (first) first.focus();
      });
    });
    var settings = document.getElementById("flow-settings");
    if (settings) {
      applyShowWhen(settings);
      settings.addEventListener("change", function () { applyShowWhen(settings); });
    }
    var ds = document.getElementById("flow-datastores");
    if (ds) ds.addEventListener("input", refreshNamespaceOptions);
    refreshNamespaceOptions();
  }

  function cardURL(type) {
    var n = Date.now().toString(36) + Math.floor(Math.random() * 1e6).toString(36);
    return "/flows/card?type=" + encodeURIComponent(type) + "&card=" + n +
      "&taken=" + encodeURIComponent(takenIDs().join(","));
  }

  function takenIDs() {
    return Array.prototype.map.call(document.querySelectorAll("#blocks [data-field='id']"), function (i) { return i.value; });
  }

  // Refuse a run whose input is not JSON before sending it.
  function init(root) {
    attachEditors(root);
    validateForms(root);
    bulkSelection(root);
    initCards(root);
    initConditions(root);
    initFlowEditor(root);
  }

  window.flowkvJSONProblem = jsonProblem;
  document.addEventListener("DOMContentLoaded", function () {
    init(document);
    if (window.htmx) window.htmx.onLoad(function (el) { if (el !== document.body) init(el); });
  });
})();

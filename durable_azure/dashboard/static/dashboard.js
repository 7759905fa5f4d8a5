/* durable-azure dashboard: confirmations, row selection and live refresh. No dependencies, no network
   beyond this page's own URL. Loaded with `defer`; the Content-Security-Policy forbids inline scripts. */
(function () {
  "use strict";

  // Confirmation: a form with data-confirm asks first; the server asks again if this script is off.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement)) { return; }
    var question = (event.submitter && event.submitter.dataset.confirm) || form.dataset.confirm;
    if (!question) { return; }
    if (form.getAttribute("id") === "bulk") { question += " (" + selected.size + " selected)"; }
    if (!window.confirm(question)) { event.preventDefault(); return; }
    var confirmed = form.querySelector('input[name="confirmed"]');
    if (confirmed) { confirmed.value = "1"; }
  });

  // Row selection (instances list): click a row or its checkbox; kept across live refreshes.
  var selected = new Set();
  function applySelection(root) {
    root.querySelectorAll("table.selectable tbody tr[data-id]").forEach(function (row) {
      var on = selected.has(row.dataset.id);
      row.classList.toggle("selected", on);
      row.setAttribute("aria-selected", on ? "true" : "false");
      var box = row.querySelector("input.select");
      if (box) { box.checked = on; }
    });
    var count = document.getElementById("selection-count");
    if (count) { count.textContent = selected.size ? selected.size + " selected" : ""; }
  }
  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!(target instanceof Element) || target.closest("a")) { return; }
    var row = target.closest("table.selectable tbody tr[data-id]");
    if (!row) { return; }
    var id = row.dataset.id;
    if (selected.has(id)) { selected.delete(id); } else { selected.add(id); }
    applySelection(document);
  });

  // Live refresh: re-read this very URL and swap each [data-live] region, keeping scroll and selection.
  var seconds = parseInt(document.body.dataset.refresh || "0", 10);
  var toggle = document.getElementById("live-toggle");
  if (toggle) {
    toggle.checked = window.localStorage.getItem("durable-live") !== "off";
    toggle.addEventListener("change", function () {
      window.localStorage.setItem("durable-live", toggle.checked ? "on" : "off");
    });
  }
  var busy = false;
  function refresh() {
    if (busy || document.hidden || (toggle && !toggle.checked)) { return; }
    var text = window.getSelection ? String(window.getSelection()) : "";
    if (text) { return; }  // the user is selecting text: don't pull it from under them
    var regions = document.querySelectorAll("[data-live][id]");
    if (!regions.length) { return; }
    busy = true;
    fetch(window.location.href, { credentials: "same-origin", headers: { "X-Dashboard-Refresh": "1" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var doc = new DOMParser().parseFromString(html, "text/html");
        var x = window.scrollX, y = window.scrollY;
        regions.forEach(function (region) {
          var fresh = doc.getElementById(region.id);
          if (fresh) { region.replaceChildren.apply(region, Array.prototype.slice.call(fresh.childNodes)); }
        });
        applySelection(document);
        window.scrollTo(x, y);
        document.body.dataset.refreshCount = String(parseInt(document.body.dataset.refreshCount || "0", 10) + 1);
      })
      .catch(function () { /* offline or restarting: try again next time */ })
      .then(function () { busy = false; });
  }
  if (seconds > 0) { window.setInterval(refresh, seconds * 1000); }
  window.durableDashboardRefresh = refresh;  // lets tests (and impatient people) refresh now
})();

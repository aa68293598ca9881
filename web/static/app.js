// paigong: small helpers (no framework). Served from our own server; CSP allows only 'self'.
(function () {
  "use strict";

  // Filters submit themselves when a choice changes.
  document.querySelectorAll("[data-autosubmit]").forEach(function (el) {
    el.addEventListener("change", function () { if (el.form) { el.form.submit(); } });
  });

  // Rows of an array field (e.g. parts used): add and remove.
  document.querySelectorAll("[data-rows]").forEach(function (box) {
    var list = box.querySelector(".row-list");
    var tpl = box.querySelector("template");
    var add = box.querySelector(".add-row");
    if (!list || !tpl || !add) { return; }
    add.addEventListener("click", function () {
      var index = parseInt(box.getAttribute("data-next") || "0", 10);
      box.setAttribute("data-next", String(index + 1));
      var html = tpl.innerHTML.split("__i__").join(String(index));
      var holder = document.createElement("div");
      holder.innerHTML = html;
      var row = holder.firstElementChild;
      list.appendChild(row);
      var first = row.querySelector("input, select, textarea");
      if (first) { first.focus(); }
    });
    box.addEventListener("click", function (ev) {
      var button = ev.target.closest(".remove-row");
      if (!button) { return; }
      var row = button.closest(".row");
      row.querySelectorAll("input, select, textarea").forEach(function (i) { i.value = ""; });
      if (list.querySelectorAll(".row").length > 1) { row.remove(); }
    });
  });

  // One-tap check-in: add the phone's location when it gives one within a few seconds.
  document.querySelectorAll("form[data-geolocate]").forEach(function (form) {
    var sent = false;
    form.addEventListener("submit", function (ev) {
      if (sent || !navigator.geolocation) { return; }
      ev.preventDefault();
      var button = form.querySelector("button");
      if (button) { button.disabled = true; }
      var go = function () { if (!sent) { sent = true; form.submit(); } };
      var timer = setTimeout(go, 6000);
      navigator.geolocation.getCurrentPosition(function (pos) {
        var c = pos.coords;
        form.querySelector("[name=checkin_location]").value =
          c.latitude.toFixed(6) + "," + c.longitude.toFixed(6) + " ±" + Math.round(c.accuracy) + "m";
        clearTimeout(timer); go();
      }, function () { clearTimeout(timer); go(); }, { enableHighAccuracy: true, timeout: 5000, maximumAge: 60000 });
    });
  });

  // Forms cannot be sent twice by a double tap.
  document.querySelectorAll("form[method=post]").forEach(function (form) {
    form.addEventListener("submit", function () {
      setTimeout(function () {
        form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
      }, 0);
    });
  });
})();

// Live preview of the plan editor: the margin of each retail price over its wholesale price,
// per minute and per number, and a warning when a price is below wholesale. Exact enough for
// a preview: amounts are compared in integer micro-units; the server checks again on save.
(function () {
  "use strict";
  var form = document.getElementById("plan-form");
  if (!form) return;
  var warning = document.getElementById("below-warning");
  var confirmBox = document.getElementById("confirm_below_wholesale");

  function micros(text) {
    var m = /^\s*(\d+)(?:\.(\d{0,6}))?\s*$/.exec(text || "");
    if (!m) return null;
    return parseInt(m[1], 10) * 1000000 + parseInt(((m[2] || "") + "000000").slice(0, 6), 10);
  }

  function show(value) {
    var sign = value < 0 ? "-" : value > 0 ? "+" : "";
    var abs = Math.abs(value);
    var text = Math.floor(abs / 1000000) + "." + String(abs % 1000000).padStart(6, "0");
    text = text.replace(/(\.\d{2,}?)0+$/, "$1");
    return sign + text;
  }

  function update() {
    var below = false;
    form.querySelectorAll("input.price").forEach(function (input) {
      var out = document.getElementById(input.id + "-margin");
      var retail = micros(input.value);
      var wholesale = micros(input.dataset.wholesale);
      if (retail === null || wholesale === null) {
        out.textContent = "not a price";
        out.className = "loss";
        return;
      }
      var margin = retail - wholesale;
      var percent = retail > 0 ? Math.round((margin * 1000) / retail) / 10 : 0;
      out.textContent = show(margin) + (retail > 0 ? " (" + percent + "%)" : "");
      out.className = margin < 0 ? "loss" : "gain";
      if (margin < 0) below = true;
    });
    warning.hidden = !below;
    confirmBox.required = below;
  }

  form.addEventListener("input", update);
  update();
})();

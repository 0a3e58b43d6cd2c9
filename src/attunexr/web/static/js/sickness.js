// Sickness forecast card: polls the head-motion forecast of this session every 5 s (read-only, no actions).
(function () {
  "use strict";
  const card = document.getElementById("sickness-forecast");
  const dash = document.getElementById("dash");
  if (!card || !dash) return;
  const sid = dash.dataset.session;
  const p = document.getElementById("sickness-p");
  const note = document.getElementById("sickness-note");
  const basis = document.getElementById("sickness-basis");
  async function poll() {
    try {
      const r = await fetch("/api/sessions/" + sid + "/sickness-forecast", { credentials: "same-origin" });
      if (!r.ok) return;
      const f = await r.json();
      card.dataset.available = f.available ? "true" : "false";
      if (!f.available) {
        p.textContent = "–";
        note.textContent = f.message || "";
        basis.textContent = "";
        return;
      }
      p.textContent = Math.round(100 * f.p_cross_60s) + " %";
      note.textContent = "chance that FMS reaches " + f.threshold_fms + " within 60 s (now: " +
        Math.round(100 * f.p_sick_now) + " % that it is there already)";
      basis.textContent = "Rests on " + f.rests_on + ". " + (f.alerts.length ? "Monitor: " + f.alerts.join("; ") : "");
    } catch (e) { /* the next poll retries */ }
  }
  poll();
  setInterval(poll, 5000);
})();

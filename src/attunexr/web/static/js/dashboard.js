// attunexr live dashboard: one WebSocket feed, uPlot charts, clinician actions through the REST API.
(function () {
  "use strict";
  const root = document.getElementById("dash");
  const sid = root.dataset.session;
  const canControl = root.dataset.canControl === "true";
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const $ = (id) => document.getElementById(id);
  const MAXN = 900;
  const S = { t: [], hr: [], eda: [], et: [], p: [], lo: [], hi: [], levels: [] , window: null};

  // Clinician words for the codes the live feed carries; the same labels and sentences as attunexr.words
  // (tests/web/test_dashboard_words.py keeps the two in step). Unknown codes are humanized, never shown raw.
  const LABELS = {
    acc: "movement (accelerometer)", ecg: "ECG", eda: "skin conductance (EDA)", head_pose: "head tracking",
    hr: "heart rate", ppg: "pulse (PPG)", resp: "breathing", temp: "skin temperature", pupil: "pupil size",
  };
  const REASONS = {
    arousal_below_window: "Estimated arousal is below the therapeutic window, so a step up may help.",
    arousal_above_window: "Estimated arousal is above the therapeutic window, so a step down may help.",
    habituation: "Arousal is falling at this level (habituation), so a step up may help.",
    suds_overload: "The last SUDS is at overload, so a step down is needed.",
    collecting_baseline: "The AI is still collecting the resting baseline.",
    poor_signal_quality: "The signals are too poor for an estimate.",
    signal_gaps: "The signals have gaps, so no estimate was made.",
    atypical_input: "The signals look unlike the training data, so no estimate was made.",
    uncertain: "The estimate is too uncertain (its prediction set is not exactly one class).",
    overload: "Overload: arousal or distress too high for too long.",
    cybersickness: "Cybersickness: signs of simulator sickness.",
    dissociation: "Dissociation: responses flattened or unanswered prompts.",
    signal_loss: "Signal loss: the sensors stopped delivering data.",
    symptom_worsening: "Symptom worsening since the session began.",
    suicidality: "Suicidality: answer that needs the clinician's immediate attention.",
    block_escalation: "Escalation blocked until the monitor clears.",
    de_escalate: "A step down to a lower level.",
  };
  function humanize(code) { return String(code || "").replace(/_+/g, " ").trim(); }
  function label(key) { return LABELS[key] || humanize(key); }
  function sentence(code) {
    if (!code) return "";
    if (REASONS[code]) return REASONS[code];
    const h = humanize(code); return h.charAt(0).toUpperCase() + h.slice(1) + ".";
  }
  function monitorName(code) { return sentence(code).split(":")[0].replace(/\.$/, ""); }

  function fmt(v, d) { return v === null || v === undefined || Number.isNaN(v) ? "–" : Number(v).toFixed(d); }
  function mmss(t) { t = Math.max(0, Math.round(t)); return Math.floor(t / 60) + ":" + String(t % 60).padStart(2, "0"); }

  function makeChart(el, label, color, height, band) {
    const w = Math.max(320, el.clientWidth || 600);
    const series = [{ label: "t (s)" }, { label: label, stroke: color, width: 2, spanGaps: false }];
    const opts = { width: w, height: height, series: series, legend: { show: true },
      scales: { x: { time: false } }, axes: [{ label: "session time (s)" }, { label: label }] };
    if (band) {
      const win = (root.dataset.window || "").split(",").map(Number);
      if (win.length === 2 && win.every((v) => !Number.isNaN(v))) {
        opts.hooks = { drawClear: [(u) => {          // the therapeutic window behind the estimate
          const y0 = u.valToPos(win[1], "y", true), y1 = u.valToPos(win[0], "y", true);
          u.ctx.save(); u.ctx.fillStyle = "rgba(46,125,50,0.09)";
          u.ctx.fillRect(u.bbox.left, y0, u.bbox.width, y1 - y0); u.ctx.restore();
        }] };
      }
      series.push({ label: "lower", stroke: "rgba(31,119,180,0.4)", width: 1 });
      series.push({ label: "upper", stroke: "rgba(31,119,180,0.4)", width: 1 });
      opts.bands = [{ series: [3, 2], fill: "rgba(31,119,180,0.18)" }];
      opts.scales.y = { range: [0, 1] };
    }
    return new uPlot(opts, band ? [[], [], [], []] : [[], []], el);
  }
  const charts = {
    hr: makeChart($("chart-hr"), "HR (bpm)", "#d62728", 170, false),
    eda: makeChart($("chart-eda"), "EDA (µS)", "#ff7f0e", 170, false),
    ar: makeChart($("chart-arousal"), "arousal", "#1f77b4", 190, true),
  };
  let dirty = false;
  function redraw() {
    if (!dirty) return; dirty = false;
    charts.hr.setData([S.t, S.hr]);
    charts.eda.setData([S.t, S.eda]);
    charts.ar.setData([S.et, S.p, S.lo, S.hi], false);
    if (S.t.length) charts.ar.setScale("x", { min: S.t[0], max: S.t[S.t.length - 1] });  // same time axis as HR/EDA
  }
  setInterval(redraw, 500);
  window.addEventListener("resize", () => {
    for (const [k, c] of Object.entries(charts)) c.setSize({ width: c.root.parentElement.clientWidth || 600, height: c.height });
  });

  function trim(arrs) { for (const a of arrs) if (a.length > MAXN) a.splice(0, a.length - MAXN); }

  function setState(state) {
    const el = $("state"); el.textContent = state; el.className = "state state-" + state;
  }
  function setLevel(level, name) {
    $("level").textContent = String(level);
    $("level-name").textContent = name || S.levels[level] || "";
    document.querySelectorAll("#levels li").forEach((li) => li.classList.toggle("current", Number(li.dataset.level) === level));
  }
  function badge(id, q) {
    const el = $(id); if (!el) return; el.textContent = q || "–"; el.className = "badge q-" + (q || "none");
  }
  function quality(q) {
    badge("q-hr", q.hr); badge("q-eda", q.eda);
    const other = Object.entries(q).filter(([k]) => k !== "hr" && k !== "eda").map(([k, v]) => label(k) + " " + v);
    $("quality-other").textContent = other.join(" · ");
  }
  function estimate(e) {
    if (!e) return;
    if (e.abstained) {
      $("arousal").textContent = "abstains";
      $("arousal-band").textContent = "AI waiting: " + (e.waiting || sentence(e.reason));
      return;
    }
    $("arousal").textContent = fmt(e.probability, 2);
    $("arousal-band").textContent = "band " + fmt(e.lower, 2) + "–" + fmt(e.upper, 2) + " · " + (e.model || "");
  }

  function proposalCard(p) {
    $("no-proposal").hidden = true;
    const div = document.createElement("div");
    div.className = "proposal"; div.id = "proposal-" + p.id;
    const ev = p.evidence || {};
    const est = ev.estimate || {};
    const contrib = Object.entries(ev.contributions || {}).sort((a, b) => Math.abs(b[1]) - Math.abs(a[1])).slice(0, 4)
      .map(([k, v]) => humanize(k) + " " + (v >= 0 ? "+" : "") + Number(v).toFixed(2)).join(", ");
    div.innerHTML = "<div class='ptitle'></div><div class='preason'></div><div class='pevidence muted'></div>" +
      (canControl ? "<div class='row'><button class='primary' data-testid='proposal-approve'>Approve</button>" +
        "<button class='danger' data-testid='proposal-reject'>Reject</button></div>" : "");
    div.querySelector(".ptitle").textContent = "Level " + p.from_level + " → " + p.to_level;
    div.querySelector(".preason").textContent = p.reason_code ? sentence(p.reason_code) : (p.reason || "");
    div.querySelector(".pevidence").textContent = "arousal " + fmt(est.probability, 2) + " [" + fmt(est.lower, 2) + "–" +
      fmt(est.upper, 2) + "], dwell " + fmt(ev.dwell_s, 0) + " s" + (contrib ? "; top contributions: " + contrib : "") +
      (ev.last_suds !== null && ev.last_suds !== undefined ? "; last SUDS " + ev.last_suds : "");
    if (canControl) {
      div.querySelector("[data-testid=proposal-approve]").onclick = () => act("proposals/" + p.id + "/approve");
      div.querySelector("[data-testid=proposal-reject]").onclick = () => act("proposals/" + p.id + "/reject", { reason: "clinician judgement" });
    }
    $("proposals").appendChild(div);
  }
  function proposalDone(m) {
    const el = $("proposal-" + m.id); if (el) el.remove();
    if (!document.querySelector(".proposal")) $("no-proposal").hidden = false;
    if (m.status === "refused") {
      const li = document.createElement("li");
      li.className = "refusal"; li.setAttribute("data-testid", "proposal-refusal");
      li.textContent = (m.t !== undefined ? mmss(m.t) + " " : "") + "proposal " + m.id + " " + (m.message || "refused");
      $("decisions").prepend(li);
      return;
    }
    logLine("decisions", "proposal " + m.id + " " + m.status + (m.by ? " by " + m.by : ""));
  }
  function levelChanged(m) {
    setLevel(m.level, m.name);
    logLine("decisions", "level " + m.from + " → " + m.level + " by " + m.by + ": " + (m.reason || ""), m.t);
    const w = $("level-warning");
    if (w) { w.textContent = m.warning ? "Level raised without the AI: " + m.warning + "." : ""; w.hidden = !m.warning; }
  }
  function alertItem(a) {
    $("no-alert").hidden = true;
    const div = document.createElement("div");
    div.className = "alert sev-" + (a.severity || "medium");
    div.setAttribute("data-testid", "safety-alert");
    div.textContent = mmss(a.t || 0) + " · " + (a.monitor ? monitorName(a.monitor) : "safety") + " · " +
      (a.action ? sentence(a.action) + " " : "") + (a.message || "");
    $("alerts").prepend(div);
  }
  function logLine(id, text, t) {
    const li = document.createElement("li");
    li.textContent = (t !== undefined ? mmss(t) + " " : "") + text;
    $(id).prepend(li);
  }

  function handle(m) {
    switch (m.type) {
      case "snapshot":
        S.levels = m.levels || [];
        S.t = m.series.t; S.hr = m.series.hr.map((v) => v === null ? null : v); S.eda = m.series.eda;
        S.et = m.estimates.t; S.p = m.estimates.p; S.lo = m.estimates.lo; S.hi = m.estimates.hi;
        dirty = true;
        setState(m.state); setLevel(m.level, m.level_name);
        $("hr").textContent = fmt(m.vitals.hr, 0); $("eda").textContent = fmt(m.vitals.eda, 2);
        quality(m.quality || {}); estimate(m.estimate);
        $("engine-info").textContent = (m.info.summary || []).join(" · ");
        if (m.speed && m.speed !== 1) {
          $("clock-factor").textContent = "simulated time ×" + m.speed;
          $("clock-factor").hidden = false;
        }
        (m.proposals || []).forEach(proposalCard);
        (m.alerts || []).forEach(alertItem);
        (m.suds || []).forEach((s) => { $("suds-last").textContent = fmt(s.value, 0); });
        (m.notes || []).forEach((n) => logLine("notes", n.by + ": " + n.text, n.t));
        $("clock").textContent = " " + mmss(m.t);
        break;
      case "vitals":
        S.t.push(m.t); S.hr.push(m.hr); S.eda.push(m.eda); trim([S.t, S.hr, S.eda]); dirty = true;
        $("hr").textContent = fmt(m.hr, 0); $("eda").textContent = fmt(m.eda, 2);
        quality(m.quality || {}); $("clock").textContent = " " + mmss(m.t);
        break;
      case "estimate":
        S.et.push(m.t); S.p.push(m.abstained ? null : m.probability); S.lo.push(m.abstained ? null : m.lower);
        S.hi.push(m.abstained ? null : m.upper); trim([S.et, S.p, S.lo, S.hi]); dirty = true;
        estimate(m);
        break;
      case "proposal": proposalCard(m); break;
      case "proposal_status": proposalDone(m); break;
      case "level": levelChanged(m); break;
      case "bounds": logLine("decisions", "bounds changed by " + m.by + ": highest level " + m.bounds.max_level + ", step " + m.bounds.max_step + ", minimum " + m.bounds.min_dwell_s + " s at a level", m.t); break;
      case "alert": alertItem(m); break;
      case "suds": $("suds-last").textContent = fmt(m.value, 0); logLine("notes", "SUDS " + fmt(m.value, 0) + " (" + m.by + ")", m.t); break;
      case "note": logLine("notes", m.by + ": " + m.text, m.t); break;
      case "state": setState(m.state); if (m.state === "stopped" || m.state === "finished") logLine("decisions", "session " + m.state + " by " + m.by, m.t); break;
      case "command": if (m.command === "prompt_suds") logLine("notes", "SUDS prompt sent to VR", m.t); break;
      default: break;
    }
    root.dataset.lastUpdate = String(Date.now());
  }

  async function act(path, body) {
    const r = await fetch("/api/sessions/" + sid + "/" + path, {
      method: "POST", credentials: "same-origin", keepalive: true,
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body || {}),
    });
    if (!r.ok) {
      let msg = r.status + ""; try { msg = (await r.json()).detail || msg; } catch (e) { /* not JSON */ }
      logLine("decisions", "refused: " + msg);
    }
    return r;
  }
  if (canControl) {
    $("pause").onclick = () => act("pause");
    $("resume").onclick = () => act("resume");
    $("stop").onclick = () => { if (confirm("Stop the session now?")) act("stop"); };
    $("suds-send").onclick = () => { const v = Number($("suds-input").value); if ($("suds-input").value !== "") act("suds", { value: v }); $("suds-input").value = ""; };
    $("suds-prompt").onclick = () => act("prompt_suds");
    $("note-send").onclick = () => { const t = $("note-input").value.trim(); if (t) act("notes", { text: t }); $("note-input").value = ""; };
    document.querySelectorAll(".setlevel").forEach((b) => { b.onclick = () => act("level", { level: Number(b.dataset.level) }); });
  }

  let backoff = 500;
  function connect() {
    const proto = location.protocol === "https:" ? "wss://" : "ws://";
    const ws = new WebSocket(proto + location.host + "/ws/sessions/" + sid);
    ws.onopen = () => { backoff = 500; document.querySelectorAll(".proposal").forEach((e) => e.remove()); $("alerts").querySelectorAll(".alert").forEach((e) => e.remove()); $("notes").innerHTML = ""; };
    ws.onmessage = (ev) => handle(JSON.parse(ev.data));
    ws.onclose = (ev) => {
      if (ev.code === 4403) { $("engine-info").textContent = "not allowed"; return; }
      setTimeout(connect, backoff); backoff = Math.min(backoff * 2, 8000);
    };
  }
  connect();
})();

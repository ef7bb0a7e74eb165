// Fineline ops page. The API key lives in this tab's sessionStorage and travels only in the
// Authorization header. Alerts arrive through the SSE stream (common.js's followStream, reconnecting
// with Last-Event-ID); campaigns and senders are polled.
"use strict";

const state = { key: sessionStorage.getItem("fineline.key"), me: null, alerts: new Map(), lastEventId: null,
                campaigns: [], finished: [], history: new Map(), guard: new Map(), streamAbort: null, pollTimer: null,
                signOut: (message) => signOut(message) };

const pct = (x) => `${(100 * (x || 0)).toFixed(2)}%`;
const isOps = () => state.me && state.me.roles.includes("ops");

const api = (method, path, body) => apiCall(state, method, path, body);

// ---- sign in / out ---------------------------------------------------------------------------
async function signIn(key) {
  state.key = key;
  try {
    state.me = await api("GET", "/v1/me");
  } catch (err) {
    state.key = null;
    $("#login-error").textContent = "That key was not accepted.";
    return showLogin();
  }
  if (!isOps()) {
    state.key = null; state.me = null;
    $("#login-error").textContent = "This page needs an API key of the ops role.";
    return showLogin();
  }
  sessionStorage.setItem("fineline.key", key);
  $("#login").hidden = true; $("#dashboard").hidden = false;
  $("#who").textContent = `${state.me.name} · ${state.me.roles.join(", ")}`;
  startStream(); poll();
}

function signOut(message) {
  sessionStorage.removeItem("fineline.key");
  state.key = null; state.me = null;
  if (state.streamAbort) state.streamAbort.abort();
  clearTimeout(state.pollTimer);
  $("#login-error").textContent = message || "";
  showLogin();
}

function showLogin() { $("#dashboard").hidden = true; $("#login").hidden = false; $("#who").textContent = ""; }

// ---- the alert stream ------------------------------------------------------------------------
function startStream() {
  followStream(state, "/v1/alerts/stream?poll=0.5", (id, alert) => { state.alerts.set(alert.id, alert); renderAlerts(); });
}

// ---- polling campaigns and senders -----------------------------------------------------------
async function poll() {
  clearTimeout(state.pollTimer);
  if (!state.key) return;
  try {
    const [sending, paused, completed, senders] = await Promise.all([
      api("GET", "/v1/campaigns?state=sending&limit=50"), api("GET", "/v1/campaigns?state=paused&limit=50"),
      api("GET", "/v1/campaigns?state=completed&limit=50"), api("GET", "/v1/senders?limit=100")]);
    state.campaigns = [...paused.items, ...sending.items];
    state.finished = completed.items;
    const now = Date.now();
    for (const c of state.campaigns) {
      const points = state.history.get(c.id) || [];
      points.push([now, c.counts.opt_out_rate || 0]);
      state.history.set(c.id, points.slice(-120));
      state.guard.set(c.id, await api("GET", `/v1/alerts/guard/${c.id}`));
    }
    renderCampaigns(); renderFinished(); renderSenders(senders.items); renderAlerts();
  } catch (err) { /* the next poll tries again */ }
  state.pollTimer = setTimeout(poll, 1500);
}

// ---- rendering -------------------------------------------------------------------------------
function renderAlerts() {
  const open = [...state.alerts.values()].filter((a) => a.state !== "resolved")
    .sort((a, b) => (a.opened_at < b.opened_at ? 1 : -1));
  const box = $("#alerts");
  box.replaceChildren(...(open.length ? open.map(alertCard) : [el("p", { class: "empty" }, "No open alerts.")]));
}

// One labelled figure: what it counts in words, the value in bold, and data-metric for the tests.
const figure = (name, label, value, after = "") =>
  el("span", { "data-metric": name }, `${label} `, el("b", {}, value), after);
const time = (iso) => new Date(iso).toLocaleTimeString();

function alertCard(a) {
  // Every number here is the alert's own, kept when the guard decided; the campaign card below
  // shows the same counts as they are now (opt-outs go on arriving after a pause).
  const m = a.metrics || {};
  const has = (name) => m[name] !== undefined && m[name] !== null;
  const card = el("div", { class: `card alert ${a.state}`, "data-alert-id": a.id, "data-kind": a.kind },
    el("h3", {}, `${a.kind.replaceAll("_", " ")} — ${a.state}`),
    el("div", {}, a.message),
    el("div", { class: "metrics", "data-when": "decision" },
      el("span", { class: "when" }, `at the decision (${time(a.opened_at)}):`),
      ...(has("opt_outs") ? [figure("opt_outs", "opt-outs", m.opt_outs,
        has("delivered") ? ` of ${m.delivered} delivered` : "")] : []),
      ...(has("failed") ? [figure("failed", "failed", m.failed,
        has("delivered") ? ` beside ${m.delivered} delivered` : "")] : []),
      ...(has("rate") ? [figure("rate", "rate", pct(m.rate))] : []),
      ...(has("baseline_rate") ? [figure("baseline_rate", "baseline", pct(m.baseline_rate))] : []),
      ...(has("rate_bar") ? [figure("rate_bar", "spike bar", pct(m.rate_bar))] : []),
      ...(has("threshold") ? [figure("threshold", "fires at", `≥ ${m.threshold}`,
        has("failed") ? " failures" : " opt-outs")] : []),
      figure("action", "action", a.action)));
  card.querySelector("[data-metric=action] b").classList.add("action");
  if (isOps()) {  // controls only for a role that may use them
    const actions = el("div", { class: "actions" });
    if (a.state === "open") actions.append(el("button", { onclick: () => act(`/v1/alerts/${a.id}/acknowledge`) }, "Acknowledge"));
    actions.append(el("button", { onclick: () => act(`/v1/alerts/${a.id}/resolve`) }, "Resolve"));
    const campaign = state.campaigns.find((c) => c.id === a.campaign_id);
    if (campaign && campaign.state === "paused" && !campaign.paused_by_guard) {
      // Paused for another reason (a suspended sender, its owner): only the owner resumes it.
      actions.append(el("span", { class: "legend" }, "paused, not by the guard: the campaign's owner resumes it"));
    } else if (campaign && campaign.state === "paused") {
      const comment = el("input", { type: "text", placeholder: "why it is safe to resume", "aria-label": "comment" });
      actions.append(comment, el("button", { class: "primary", onclick: () => {
        if (!comment.value.trim()) { comment.focus(); return; }
        act(`/v1/campaigns/${campaign.id}/resume`, { comment: comment.value.trim() });
      } }, "Resume campaign"));
    }
    card.append(actions);
  }
  return card;
}

async function act(path, body) {
  try { await api("POST", path, body || {}); } catch (err) { window.alert(err.message); }
  poll();
}

function renderCampaigns() {
  const box = $("#campaigns");
  if (!state.campaigns.length) return box.replaceChildren(el("p", { class: "empty" }, "Nothing sending."));
  box.replaceChildren(...state.campaigns.map((c) => {
    const n = c.counts, total = Math.max(n.audience, 1);
    const width = (x) => `${(100 * x / total).toFixed(2)}%`;
    const canvas = el("canvas", { width: "240", height: "80", "aria-label": "opt-out rate over time" });
    const card = el("div", { class: "card campaign", "data-campaign-id": c.id, "data-state": c.state },
      el("div", { class: "row" },
        el("div", {},
          el("h3", {}, c.name, el("span", { class: `state ${c.state}` }, c.state)),
          el("div", { class: "bar" },
            el("span", { class: "delivered", style: `width:${width(n.delivered)}` }),
            el("span", { class: "sent", style: `width:${width(n.sent - n.delivered - Math.min(n.failed, n.sent))}` }),
            el("span", { class: "failed", style: `width:${width(n.failed)}` }),
            el("span", { class: "skipped", style: `width:${width(n.skipped)}` })),
          el("div", { class: "legend", "data-when": "now" }, el("span", { class: "when" }, "now:"),
             ...[`audience ${n.audience}`, `sent ${n.sent}`, `delivered ${n.delivered}`, `failed ${n.failed}`,
                 `skipped ${n.skipped}`].map((text) => el("span", {}, text)),
             // the rate is over max(delivered, opt-outs), as the guard judges it (API: opt_out_rate)
             figure("opt_outs", "opt-outs", n.opt_outs,
                    ` of ${Math.max(n.delivered, n.opt_outs)} delivered (${pct(n.opt_out_rate)})`)),
          c.state_reason ? el("div", { class: "legend reason" }, `why ${c.state}: ${c.state_reason}`) : "",
          c.state === "paused" ? reportButton(c) : ""),
        el("figure", {}, canvas, chartCaption(state.guard.get(c.id)))));
    drawChart(canvas, state.history.get(c.id) || [], state.guard.get(c.id));
    return card;
  }));
}

// ---- the campaign report (a finished or paused campaign) ---------------------------------------
// Fetched when asked for (it counts every message of the campaign), drawn with inline SVG.
const reportButton = (c) => el("button", { class: "report-button", "data-report-for": c.id,
  onclick: () => showReport(c.id) }, "Report");

function renderFinished() {
  const box = $("#finished");
  if (!state.finished.length) return box.replaceChildren(el("p", { class: "empty" }, "No finished campaigns."));
  box.replaceChildren(...state.finished.map((c) => el("div", { class: "card finished", "data-campaign-id": c.id,
    "data-state": c.state }, el("span", {}, c.name, el("span", { class: `state ${c.state}` }, c.state)), " ",
    el("span", { class: "legend" }, `sent ${c.counts.sent} · delivered ${c.counts.delivered} · opt-outs ${c.counts.opt_outs}`),
    " ", reportButton(c))));
}

async function showReport(id) {
  try { renderReport(await api("GET", `/v1/campaigns/${id}/report`)); } catch (err) { window.alert(err.message); }
}

const money = (x, currency) => `${Number(x).toFixed(2)} ${currency}`;

function renderReport(r) {
  const box = $("#report");
  box.hidden = false;
  const slice = (name, n) => el("tr", { "data-slice": name }, el("td", {}, name),
    ...[n.audience, n.sent, n.delivered, n.failed, n.skipped, n.opt_outs, pct(n.opt_out_rate)].map((v) => el("td", {}, v)));
  const list = (items, label) => items.length
    ? el("ul", {}, ...items.map((i) => el("li", {}, `${label(i)}: `, el("b", {}, i.count)))) : el("p", { class: "empty" }, "none");
  const base = r.opt_out_baseline;
  box.replaceChildren(el("div", { class: "card report", "data-report-id": r.campaign_id },
    el("h3", {}, `Report: ${r.name}`, el("span", { class: `state ${r.state}` }, r.state)),
    el("div", { class: "legend" }, `as of ${time(r.generated_at)}`,
       el("button", { onclick: () => showReport(r.campaign_id) }, "Refresh")),
    el("div", { class: "metrics" },
      figure("audience", "audience", r.audience), figure("sent", "sent", r.sent),
      figure("delivered", "delivered", r.delivered), figure("failed", "failed", r.failed),
      figure("skipped", "skipped", r.skipped),
      figure("opt_outs", "opt-outs", r.opt_outs, ` (${pct(r.opt_out_rate)}; baseline ${pct(base.baseline_rate)}` +
        (base.ratio === null ? ")" : `, ×${base.ratio.toFixed(1)})`)),
      figure("replied", "replied", r.replies.replied, ` (${pct(r.replies.reply_rate)})`),
      figure("clicks", "human clicks", r.clicks.available ? r.clicks.unique_human : "n/a",
        r.clicks.available ? ` (${pct(r.clicks.click_rate)})` : " (tracked links not enabled)"),
      figure("segments_sent", "segments", r.cost.segments_sent),
      figure("estimated_cost", "est. cost", money(r.cost.estimated_cost, r.cost.currency))),
    el("div", { class: "row" },
      el("div", {}, el("h4", {}, "failed by error code"),
        list(r.failed_by_error_code, (i) => (i.error_code === null ? "no code" : i.error_code))),
      el("div", {}, el("h4", {}, "skipped by reason"), list(r.skipped_by_reason, (i) => i.reason))),
    r.canary ? el("table", { class: "canary" }, el("thead", {}, el("tr", {}, ...["", "audience", "sent", "delivered",
      "failed", "skipped", "opt-outs", "rate"].map((h) => el("th", {}, h)))),
      el("tbody", {}, slice("first slice", r.canary.first_slice), slice("rest", r.canary.rest))) : "",
    el("h4", {}, "per minute"), timelineChart(r.timeline)));
}

const SVG = "http://www.w3.org/2000/svg";
const svgEl = (tag, attrs = {}) => {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
};
const SERIES = [["sent", "#2c5fd6"], ["delivered", "#1f7a43"], ["failed", "#c62f2f"], ["opt_outs", "#b36b00"]];

function timelineChart(timeline) {
  // One point per minute from the first to the last active one (quiet minutes are zeros), unless the
  // campaign spans more than a day of minutes: then only the active ones, placed by time.
  const w = 720, h = 160, pad = 24;
  const svg = svgEl("svg", { class: "timeline", width: w, height: h, viewBox: `0 0 ${w} ${h}`, role: "img",
                             "aria-label": "sent, delivered, failed and opt-outs per minute" });
  const raw = timeline.points.map((p) => ({ ...p, t: Date.parse(p.minute) / 60000 }));
  if (!raw.length) { svg.append(svgEl("text", { x: pad, y: h / 2 })); svg.lastChild.textContent = "nothing sent yet"; return svg; }
  const t0 = raw[0].t, t1 = raw[raw.length - 1].t;
  let points = raw;
  if (t1 - t0 <= 1440) {
    const byT = new Map(raw.map((p) => [p.t, p]));
    points = [];
    for (let t = t0; t <= t1; t++) points.push(byT.get(t) || { t, sent: 0, delivered: 0, failed: 0, opt_outs: 0 });
  }
  const top = Math.max(1, ...points.flatMap((p) => SERIES.map(([k]) => p[k])));
  const x = (t) => pad + (w - 2 * pad) * (t1 > t0 ? (t - t0) / (t1 - t0) : 0.5);
  const y = (v) => h - pad - (h - 2 * pad) * (v / top);
  svg.append(svgEl("line", { x1: pad, y1: h - pad, x2: w - pad, y2: h - pad, stroke: "#b9bfcc" }));
  for (const [k, color] of SERIES) {
    svg.append(svgEl("polyline", { "data-series": k, fill: "none", stroke: color, "stroke-width": 2,
      points: points.map((p) => `${x(p.t).toFixed(1)},${y(p[k]).toFixed(1)}`).join(" ") }));
    if (points.length <= 90) {  // few minutes: a dot per minute, so a one-minute campaign is seen too
      for (const p of points) svg.append(svgEl("circle", { cx: x(p.t).toFixed(1), cy: y(p[k]).toFixed(1), r: 3, fill: color }));
    }
  }
  const label = (text, attrs) => { const node = svgEl("text", { "font-size": 11, fill: "#6b7385", ...attrs }); node.textContent = text; return node; };
  svg.append(label(`${top}/min`, { x: 2, y: pad - 6 }),
             label(new Date(t0 * 60000).toLocaleTimeString(), { x: pad, y: h - 6 }),
             label(new Date(t1 * 60000).toLocaleTimeString(), { x: w - pad, y: h - 6, "text-anchor": "end" }));
  const legend = el("div", { class: "legend" }, ...SERIES.map(([k, color]) =>
    el("span", { style: `color:${color}` }, k.replace("_", "-"))));
  return el("figure", { class: "timeline-figure" }, svg, legend);
}

function chartCaption(guard) {
  // The spike bar is a rate (the line on the chart); "fires at" is a count of opt-outs at the
  // delivered count now: both from GET /v1/alerts/guard/{id}, the guard's own levels.
  if (!guard) return el("figcaption", {}, "opt-out rate now");
  return el("figcaption", { "data-when": "now" }, "opt-out rate now · ",
    figure("baseline_rate", "baseline", pct(guard.baseline_rate)), " · ",
    figure("rate_bar", "spike bar", pct(guard.rate_bar)), " · ",
    figure("threshold", "fires at", `≥ ${guard.threshold}`, ` opt-outs of ${guard.delivered} delivered`));
}

function drawChart(canvas, points, guard) {
  const ctx = canvas.getContext("2d"), w = canvas.width, h = canvas.height;
  ctx.clearRect(0, 0, w, h);
  const bar = guard ? guard.rate_bar : 0, base = guard ? guard.baseline_rate : 0;
  const top = Math.max(bar * 1.5, ...points.map((p) => p[1]), 0.01);
  const y = (v) => h - 6 - (h - 12) * (v / top);
  const line = (v, color) => { ctx.strokeStyle = color; ctx.setLineDash([4, 3]); ctx.beginPath();
    ctx.moveTo(0, y(v)); ctx.lineTo(w, y(v)); ctx.stroke(); ctx.setLineDash([]); };
  line(base, "#1f7a43"); line(bar, "#c62f2f");
  if (points.length) {
    const t0 = points[0][0], t1 = Math.max(points[points.length - 1][0], t0 + 1);
    ctx.strokeStyle = "#2c5fd6"; ctx.lineWidth = 2; ctx.beginPath();
    points.forEach(([t, v], i) => { const x = (w - 4) * (t - t0) / (t1 - t0) + 2; i ? ctx.lineTo(x, y(v)) : ctx.moveTo(x, y(v)); });
    ctx.stroke(); ctx.lineWidth = 1;
  }
}

function renderSenders(senders) {
  $("#senders tbody").replaceChildren(...senders.map((s) => el("tr", { "data-sender-id": s.id },
    el("td", {}, `${s.label} (${s.address})`), el("td", {}, s.kind),
    el("td", { class: `state-${s.state}` }, s.state), el("td", {}, s.mps),
    el("td", {}, s.last_checked_at ? new Date(s.last_checked_at).toLocaleString() : "—"))));
}

// ---- start -----------------------------------------------------------------------------------
$("#login-form").addEventListener("submit", (event) => { event.preventDefault(); signIn($("#api-key").value.trim()); });
$("#logout").addEventListener("click", () => signOut());
if (state.key) signIn(state.key); else showLogin();

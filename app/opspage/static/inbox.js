// Fineline inbox page. The API key lives in this tab's sessionStorage and travels only in the
// Authorization header. New texts, replies, assignments and state changes arrive through the inbox
// stream (common.js's followStream, reconnecting with Last-Event-ID).
"use strict";

const state = { key: sessionStorage.getItem("fineline.inbox.key"), me: null, view: "mine", current: null,
                lastEventId: null, streamAbort: null, checkTimer: null, signOut: (message) => signOut(message) };

const has = (...roles) => state.me && roles.some((r) => state.me.roles.includes(r));
const works = () => has("agent", "ops", "admin");
const when = (iso) => (iso ? new Date(iso).toLocaleString() : "");

const api = (method, path, body) => apiCall(state, method, path, body);

// ---- sign in / out ---------------------------------------------------------------------------
async function signIn(key) {
  state.key = key;
  try { state.me = await api("GET", "/v1/me"); } catch (err) {
    state.key = null; $("#login-error").textContent = "That key was not accepted."; return showLogin();
  }
  if (!has("agent", "ops", "admin", "marketer", "reviewer")) {
    state.key = null; state.me = null;
    $("#login-error").textContent = "This page needs an employee's API key."; return showLogin();
  }
  sessionStorage.setItem("fineline.inbox.key", key);
  $("#login").hidden = true; $("#inbox").hidden = false;
  $("#who").textContent = `${state.me.name} · ${state.me.roles.join(", ")}`;
  $("#availability-box").hidden = !has("agent");
  if (has("agent")) $("#availability").checked = (await api("GET", "/v1/me/availability")).available;
  $("#held-box").hidden = !has("reviewer");
  if (!works()) state.view = "all";
  startStream(); refresh();
}

function signOut(message) {
  sessionStorage.removeItem("fineline.inbox.key");
  state.key = null; state.me = null;
  if (state.streamAbort) state.streamAbort.abort();
  $("#login-error").textContent = message || "";
  showLogin();
}

function showLogin() { $("#inbox").hidden = true; $("#login").hidden = false; $("#who").textContent = ""; }

// ---- the stream ------------------------------------------------------------------------------
function startStream() {
  followStream(state, "/v1/conversations/stream?poll=0.25",
               (id, event) => refresh(event.conversation && event.conversation.id === state.current));
}

// ---- lists -----------------------------------------------------------------------------------
const VIEWS = { mine: "state=open&assignee=me", queue: "state=open&assignee=none", all: "state=open" };

async function refresh(withThread = true) {
  if (!state.key) return;
  document.querySelectorAll(".tab").forEach((tab) => {
    tab.classList.toggle("active", tab.dataset.view === state.view);
    tab.hidden = !works() && tab.dataset.view !== "all";
  });
  try {
    const page = await api("GET", `/v1/conversations?${VIEWS[state.view]}&limit=100`);
    $("#conversations").replaceChildren(...(page.items.length ? page.items.map(listItem)
      : [el("li", { class: "empty" }, "Nothing here.")]));
    if (has("reviewer")) {
      const held = await api("GET", "/v1/replies?state=held&limit=50");
      $("#held").replaceChildren(...(held.items.length ? held.items.map(heldItem)
        : [el("li", { class: "empty" }, "No reply waits for review.")]));
    }
    if (withThread && state.current) await openThread(state.current);
  } catch (err) { /* the next event tries again */ }
}

function listItem(c) {
  return el("li", { class: `${c.id === state.current ? "selected" : ""} ${c.waiting_since ? "waiting" : ""}`,
                    "data-conversation-id": c.id, onclick: () => openThread(c.id) },
    el("b", {}, c.phone),
    el("div", { class: "meta" }, `${c.assignee_id ? "assigned" : "unassigned"} · ${when(c.last_activity_at)}`));
}

function heldItem(r) {
  const comment = el("input", { type: "text", placeholder: "comment", "aria-label": "comment" });
  const decide = (what) => act(`/v1/replies/${r.id}/${what}`, { comment: comment.value.trim() || null });
  return el("li", { "data-reply-id": r.id },
    el("div", {}, r.body),
    el("div", { class: "meta" }, r.findings.map((f) => f.message).join(" ")),
    r.author_id === state.me.id ? el("div", { class: "meta" }, "Yours: another reviewer decides.")
      : el("div", { class: "actions" }, comment,
        el("button", { class: "primary", type: "button", onclick: () => decide("approve") }, "Approve"),
        el("button", { type: "button", onclick: () => decide("reject") }, "Reject")));
}

// ---- the thread ------------------------------------------------------------------------------
async function openThread(id) {
  state.current = id;
  const c = await api("GET", `/v1/conversations/${id}`);
  document.querySelectorAll("#conversations li").forEach((li) =>
    li.classList.toggle("selected", li.dataset.conversationId === id));
  $("#no-thread").hidden = true; $("#thread-head").hidden = false;
  $("#thread-title").textContent = `${c.phone} — ${c.state}${c.opted_out ? " · opted out" : ""}`;
  $("#thread").replaceChildren(...c.messages.map(threadItem));
  const actions = [];
  if (works()) {
    if (c.assignee_id !== state.me.id && has("agent") && !c.assignee_id)
      actions.push(el("button", { type: "button", onclick: () => act(`/v1/conversations/${id}/assign`, { user_id: state.me.id }) }, "Take it"));
    if (c.state !== "resolved") {
      const hour = new Date(Date.now() + 3600 * 1000).toISOString();
      actions.push(el("button", { type: "button", onclick: () => act(`/v1/conversations/${id}/snooze`, { until: hour }) }, "Snooze 1 h"),
                   el("button", { type: "button", onclick: () => act(`/v1/conversations/${id}/resolve`) }, "Resolve"));
    } else {
      actions.push(el("button", { type: "button", onclick: () => act(`/v1/conversations/${id}/reopen`) }, "Reopen"));
    }
  }
  $("#thread-actions").replaceChildren(...actions);
  $("#reply-form").hidden = !works();
}

function threadItem(m) {
  const r = m.reply;
  const label = m.kind === "inbound" ? `customer · ${m.classification}` : m.kind === "campaign"
    ? `campaign ${m.campaign_name} · ${m.state}`
    : `${r.purpose} · ${r.state}${r.scheduled_for ? ` for ${when(r.scheduled_for)}` : ""}${r.error ? ` · ${r.error}` : ""}`;
  return el("li", { class: `${m.kind} ${r ? r.state : ""}`, "data-kind": m.kind, ...(r ? { "data-state": r.state } : {}) },
    m.body,
    ...m.media.map((item) => el("a", { href: item.url, target: "_blank", rel: "noopener noreferrer" }, ` [${item.content_type || "media"}]`)),
    el("span", { class: "meta" }, `${label} · ${when(m.at)}`),
    ...(r && r.findings.length ? [el("span", { class: "meta" }, r.findings.map((f) => f.message).join(" "))] : []),
    ...(r && r.review_comment ? [el("span", { class: "meta" }, `review: ${r.review_comment}`)] : []));
}

// ---- replying: the checks before sending -----------------------------------------------------
async function checkDraft() {
  const body = $("#reply-body").value;
  if (!body.trim() || !state.current) { $("#checks").replaceChildren(); return; }
  try {
    const result = await api("POST", `/v1/conversations/${state.current}/check`, { body });
    const lines = result.findings.map((f) => el("div", { class: "finding" }, f.message));
    if (result.refused) lines.push(el("div", { class: "refused" }, `Will be refused: ${result.refused.message}`));
    if (result.held) lines.push(el("div", { class: "finding" }, "This reply will wait for a reviewer."));
    if (new Date(result.send_at) > new Date(Date.now() + 60000))
      lines.push(el("div", { class: "finding" }, `Quiet hours: it will go at ${when(result.send_at)}.`));
    if (!lines.length) lines.push(el("div", { class: "ok" }, "Checks passed: it goes now."));
    $("#checks").replaceChildren(...lines);
  } catch (err) { $("#checks").replaceChildren(el("div", { class: "refused" }, err.message)); }
}

async function sendReply(event) {
  event.preventDefault();
  $("#reply-error").textContent = "";
  try {
    await api("POST", `/v1/conversations/${state.current}/messages`, { body: $("#reply-body").value });
    $("#reply-body").value = ""; $("#checks").replaceChildren();
  } catch (err) { $("#reply-error").textContent = err.message; }
  refresh();
}

async function act(path, body) {
  try { await api("POST", path, body || {}); } catch (err) { window.alert(err.message); }
  refresh();
}

// ---- start -----------------------------------------------------------------------------------
$("#login-form").addEventListener("submit", (event) => { event.preventDefault(); signIn($("#api-key").value.trim()); });
$("#logout").addEventListener("click", () => signOut());
$("#reply-form").addEventListener("submit", sendReply);
$("#reply-body").addEventListener("input", () => { clearTimeout(state.checkTimer); state.checkTimer = setTimeout(checkDraft, 300); });
$("#availability").addEventListener("change", async (event) => {
  try { await api("PUT", "/v1/me/availability", { available: event.target.checked }); } catch (err) { window.alert(err.message); }
});
document.querySelectorAll(".tab").forEach((tab) => tab.addEventListener("click", () => { state.view = tab.dataset.view; refresh(false); }));
if (state.key) signIn(state.key); else showLogin();

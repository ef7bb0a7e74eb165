// What the server-rendered pages share: DOM helpers, the API call (the key only ever in the
// Authorization header), and following a server-sent event stream through fetch (EventSource cannot
// send headers), reconnecting with Last-Event-ID so nothing is missed across a drop.
"use strict";

const $ = (sel) => document.querySelector(sel);
const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v; else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
};

// page: { key, signOut(message) } — the page's state object.
async function apiCall(page, method, path, body) {
  const response = await fetch(path, { method, headers: { "Authorization": `Bearer ${page.key}`,
    ...(body ? { "Content-Type": "application/json" } : {}) }, body: body ? JSON.stringify(body) : undefined });
  if (response.status === 401) { page.signOut("Your key is no longer valid."); throw new Error("unauthorized"); }
  const data = response.status === 204 ? null : await response.json();
  if (!response.ok) throw new Error((data && data.error && data.error.message) || response.statusText);
  return data;
}

function setStreamState(label) { const pill = $("#stream-state"); pill.textContent = label; pill.className = `pill ${label}`; }

// page: { key, lastEventId, streamAbort }; onEvent(id, data) for each event with data.
async function followStream(page, url, onEvent) {
  if (!page.key) return;
  const controller = new AbortController();
  page.streamAbort = controller;
  const headers = { "Authorization": `Bearer ${page.key}` };
  if (page.lastEventId) headers["Last-Event-ID"] = page.lastEventId;
  try {
    const response = await fetch(url, { headers, signal: controller.signal });
    if (!response.ok) throw new Error(`stream answered ${response.status}`);
    setStreamState("live");
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        let id = null, data = "", kind = "message";
        for (const line of block.split("\n")) {
          if (line.startsWith("id: ")) id = line.slice(4);
          else if (line.startsWith("event: ")) kind = line.slice(7);
          else if (line.startsWith("data: ")) data += line.slice(6);
        }
        if (!data || kind === "closed") continue;  // "closed": the server ended the stream; we reconnect below
        if (id) page.lastEventId = id;
        onEvent(id, JSON.parse(data));
      }
    }
  } catch (err) {
    if (controller.signal.aborted) return;
  }
  if (!page.key) return;
  setStreamState("retrying");  // dropped: reconnect and catch up from the last event seen
  setTimeout(() => followStream(page, url, onEvent), 1500);
}

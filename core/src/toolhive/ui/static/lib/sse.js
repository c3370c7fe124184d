// Server-sent events over fetch (not EventSource): it can send the bearer token, and the caller
// decides how to reconnect. onEvent({event, data, id}) gets `data` JSON-decoded when it is JSON.

import { authHeaders } from "./api.js";

function parseBlock(block) {
  const out = { event: "message", data: "", id: "" };
  const data = [];
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const i = line.indexOf(":");
    const key = i < 0 ? line : line.slice(0, i);
    let value = i < 0 ? "" : line.slice(i + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (key === "data") data.push(value);
    else if (key === "event") out.event = value;
    else if (key === "id") out.id = value;
  }
  if (!data.length) return null;
  out.data = data.join("\n");
  try {
    out.data = JSON.parse(out.data);
  } catch {
    /* plain text data */
  }
  return out;
}

/** Read one stream until it ends or `signal` aborts. Resolves on a clean end; rejects on errors. */
export async function readSSE(url, { onEvent, onOpen, signal } = {}) {
  const res = await fetch(url, { headers: authHeaders({ Accept: "text/event-stream" }), signal });
  if (!res.ok) {
    const err = new Error(`${url} answered ${res.status}`);
    err.status = res.status;
    throw err;
  }
  if (onOpen) onOpen(res);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = parseBlock(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
      if (event) onEvent(event);
    }
  }
}

/** readSSE, reconnecting after `retryMs` until `signal` aborts; onState("live"|"reconnecting"). */
export function followSSE(url, { onEvent, onState, signal, retryMs = 2000 }) {
  (async () => {
    while (!signal.aborted) {
      try {
        await readSSE(url, { onEvent, signal, onOpen: () => onState && onState("live") });
      } catch (err) {
        if (signal.aborted) return;
        if (err && err.status === 401) {
          if (onState) onState("unauthorized");
          return;
        }
      }
      if (signal.aborted) return;
      if (onState) onState("reconnecting");
      await new Promise((resolve) => setTimeout(resolve, retryMs));
    }
  })();
}

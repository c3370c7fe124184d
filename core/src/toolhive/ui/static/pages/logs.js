// Logs of one workload: the server's output and its proxy's log, live over
// GET workloads/{name}/logs/stream (server-sent events: `lines` with a JSON list, `reset` when the
// log starts over, `removed` at the end), a search that keeps the matching lines and marks the
// matches, a download of the text, and Follow (keep the newest line in view).

import { BASE, seg } from "../lib/api.js";
import { clear, download, errorBox, h, newId, pageHeader, statusBadge } from "../lib/dom.js";
import { watchWorkloads } from "../lib/events.js";
import { signInControls, watchSignIns } from "../lib/signin.js";
import { readSSE } from "../lib/sse.js";

/** Lines kept in the page at most (the stream starts with the last 1000). */
const MAX_LINES = 5000;
const RETRY_MS = 2000;
const SOURCES = [
  ["server", "Server"],
  ["proxy", "Proxy"],
];

export async function render(main, params, ctx) {
  const name = params[0];
  let source = ctx.query.get("source") === "proxy" ? "proxy" : "server";
  let lines = [];
  let filter = "";
  let stream = null; // AbortController of the open stream

  const badgeSlot = h("span", { class: "logs-status" });
  const root = h("div", { class: "logs", "aria-busy": "true" });
  main.append(
    pageHeader(`Logs: ${name}`,
      h("a", { href: "/", "data-nav": true, class: "btn" }, "All servers"),
      h("a", { href: `/ui/servers/${seg(name)}/playground`, "data-nav": true, class: "btn" }, "Playground")),
    h("p", { class: "muted" }, "Status: ", badgeSlot),
    root,
  );

  // Tabs (the WAI-ARIA pattern: arrow keys move between them).
  const panelId = newId("log-panel");
  const tabs = SOURCES.map(([value, label]) =>
    h("button", {
      type: "button",
      role: "tab",
      id: `tab-${value}`,
      "aria-controls": panelId,
      "aria-selected": String(value === source),
      tabindex: value === source ? "0" : "-1",
      onclick: () => select(value),
    }, label));
  const tablist = h("div", { class: "tabs", role: "tablist", "aria-label": "Log source" }, tabs);
  tablist.addEventListener("keydown", (event) => {
    const i = SOURCES.findIndex(([v]) => v === source);
    let next = null;
    if (event.key === "ArrowRight") next = (i + 1) % SOURCES.length;
    else if (event.key === "ArrowLeft") next = (i + SOURCES.length - 1) % SOURCES.length;
    else if (event.key === "Home") next = 0;
    else if (event.key === "End") next = SOURCES.length - 1;
    if (next === null) return;
    event.preventDefault();
    select(SOURCES[next][0]);
    tabs[next].focus();
  });

  const searchId = newId("log-search");
  const search = h("input", { id: searchId, type: "search", placeholder: "Text to find", autocomplete: "off" });
  const followId = newId("log-follow");
  const follow = h("input", { id: followId, type: "checkbox", checked: true });
  const downloadButton = h("button", { type: "button", class: "btn" }, "Download");
  const count = h("span", { class: "muted log-count", "aria-live": "polite" });
  const state = h("p", { class: "muted log-state", role: "status" });
  const pre = h("pre", { class: "log", tabindex: "0", "aria-label": "" });
  const panel = h("div", { id: panelId, role: "tabpanel" },
    h("div", { class: "toolbar" },
      h("div", { class: "field" }, h("label", { for: searchId }, "Search"), search),
      h("div", { class: "field field-check" }, follow, h("label", { for: followId }, "Follow")),
      downloadButton,
      count),
    state,
    pre);
  root.append(tablist, panel);

  function labelPanel() {
    const label = SOURCES.find(([v]) => v === source)[1];
    panel.setAttribute("aria-labelledby", `tab-${source}`);
    pre.setAttribute("aria-label", `${label} log of ${name}`);
  }

  function lineNode(line) {
    if (!filter) return [line, "\n"];
    const out = [];
    const lower = line.toLowerCase();
    let at = 0;
    for (;;) {
      const i = lower.indexOf(filter, at);
      if (i < 0) break;
      if (i > at) out.push(line.slice(at, i));
      out.push(h("mark", {}, line.slice(i, i + filter.length)));
      at = i + filter.length;
    }
    out.push(line.slice(at), "\n");
    return out;
  }

  const matches = (line) => !filter || line.toLowerCase().includes(filter);

  function updateCount() {
    const shown = filter ? lines.filter(matches).length : lines.length;
    count.textContent = filter ? `${shown} of ${lines.length} lines match` : `${lines.length} lines`;
  }

  function redraw() {
    clear(pre);
    const shown = lines.filter(matches);
    if (!shown.length) pre.append(h("span", { class: "muted" }, lines.length ? "No line matches." : "Nothing logged yet."));
    for (const line of shown) pre.append(...lineNode(line));
    updateCount();
    scroll();
  }

  function append(newLines) {
    const wasEmpty = !lines.length || !lines.some(matches);
    lines.push(...newLines);
    if (lines.length > MAX_LINES) {
      lines = lines.slice(lines.length - MAX_LINES);
      redraw();
      return;
    }
    if (wasEmpty) {
      redraw();
      return;
    }
    for (const line of newLines) if (matches(line)) pre.append(...lineNode(line));
    updateCount();
    scroll();
  }

  function scroll() {
    if (follow.checked) pre.scrollTop = pre.scrollHeight;
  }

  async function followStream(controller) {
    const url = `${BASE}/workloads/${seg(name)}/logs/stream?source=${source}`;
    while (!controller.signal.aborted) {
      let removed = false;
      try {
        await readSSE(url, {
          signal: controller.signal,
          onOpen() {
            // Every stream starts with the log's text: replace what we have.
            lines = [];
            redraw();
            root.removeAttribute("aria-busy");
            state.textContent = "Following live.";
          },
          onEvent({ event, data }) {
            if (event === "lines" && Array.isArray(data)) append(data);
            else if (event === "reset") {
              lines = [];
              redraw();
            } else if (event === "removed") removed = true;
          },
        });
      } catch (err) {
        if (controller.signal.aborted) return;
        root.removeAttribute("aria-busy");
        if (err && (err.status === 404 || err.status === 400)) {
          state.textContent = "";
          clear(pre);
          pre.append(h("span", { class: "muted" }, "No log to show."));
          root.before(errorBox(err.status === 404 ? `No workload named ${name}.` : err.message));
          return;
        }
      }
      if (controller.signal.aborted) return;
      if (removed) {
        state.textContent = `${name} was removed; this is the last of its log.`;
        return;
      }
      state.textContent = "The log stream was interrupted; reconnecting…";
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
    }
  }

  function select(value) {
    if (stream && value === source) return;
    source = value;
    tabs.forEach((tab, i) => {
      const on = SOURCES[i][0] === value;
      tab.setAttribute("aria-selected", String(on));
      tab.tabIndex = on ? 0 : -1;
    });
    labelPanel();
    const url = new URL(location.href);
    if (value === "server") url.searchParams.delete("source");
    else url.searchParams.set("source", value);
    history.replaceState(null, "", url);
    if (stream) stream.abort();
    stream = new AbortController();
    ctx.signal.addEventListener("abort", () => stream.abort(), { once: true });
    lines = [];
    state.textContent = "Connecting…";
    redraw();
    followStream(stream);
  }

  let typing = null;
  search.addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => {
      filter = search.value.trim().toLowerCase();
      redraw();
    }, 150);
  });
  follow.addEventListener("change", scroll);
  downloadButton.addEventListener("click", () => {
    const text = lines.join("\n") + (lines.length ? "\n" : "");
    download(`${name}-${source}.log`, text);
  });

  let view; // the stream's latest view of this workload (undefined until it is ready)
  function showStatus() {
    if (view === undefined) return;
    const active = document.activeElement;
    const focused = badgeSlot.contains(active) ? active.dataset.key : null;
    clear(badgeSlot);
    if (view) {
      badgeSlot.append(statusBadge(view.status));
      if (view.status_context) badgeSlot.append(" ", h("span", { class: "reason" }, view.status_context));
      // A remote server waiting for its login (or whose login was refused): sign in from here too.
      const signIn = signInControls(view);
      if (signIn.length) badgeSlot.append(" ", ...signIn);
    } else badgeSlot.append(h("span", {}, "not found"));
    const again = focused && badgeSlot.querySelector(`[data-key="${CSS.escape(focused)}"]`);
    if (again) again.focus();
  }
  const unsubscribe = watchWorkloads((st) => {
    if (!st.ready) return;
    view = st.workloads.get(name) || null;
    showStatus();
  });
  const unwatchSignIns = watchSignIns(showStatus);

  select(source);
  return () => {
    unsubscribe();
    unwatchSignIns();
    if (stream) stream.abort();
    clearTimeout(typing);
  };
}

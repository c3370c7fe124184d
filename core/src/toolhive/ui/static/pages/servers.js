// Servers: every workload by group, live from the event stream (no polling). The list
// (GET workloads?all=true) gives what the stream does not carry (package, transport); the stream
// gives status, reason, URL and group as they change, and a workload it announces that the list
// does not have yet (created elsewhere: the CLI, another tab) makes us read the list again.

import { ApiError, del, get, post, seg } from "../lib/api.js";
import { clear, confirmDialog, copyButton, errorBox, h, newId, pageHeader, statusBadge, toast } from "../lib/dom.js";
import { watchWorkloads } from "../lib/events.js";
import { signInControls, watchSignIns } from "../lib/signin.js";

/** Statuses where the server is not running and "Start" makes sense. */
const STOPPED = new Set(["stopped", "error", "unknown", "policy_stopped"]);
/** Statuses where the reason (status_context) matters most. */
const BAD = new Set(["error", "unhealthy", "unauthenticated", "policy_stopped"]);

const uiPath = (name, view) => `/ui/servers/${seg(name)}/${view}`;

export async function render(main, _params, ctx) {
  const live = h("p", { class: "muted servers-live", role: "status" }, "Connecting to live updates…");
  const root = h("div", { class: "servers", "aria-busy": "true" });
  main.append(
    pageHeader("Servers", h("a", { href: "/ui/install", class: "btn btn-primary", "data-nav": true }, "Install a server")),
    live,
    root,
  );

  /** name -> list row (GET workloads), overlaid with the stream's latest view of it. */
  const rows = new Map();
  let groups = [];
  let streamState = null;
  let loaded = false;
  let refetching = null;
  let lastFocusKey = null;
  root.addEventListener("focusin", (event) => {
    lastFocusKey = event.target.dataset ? event.target.dataset.key || null : null;
  });

  async function load() {
    const [list, groupList] = await Promise.all([
      get("workloads?all=true", { signal: ctx.signal }),
      get("groups", { signal: ctx.signal }),
    ]);
    rows.clear();
    for (const w of list.workloads || []) rows.set(w.name, w);
    groups = (groupList.groups || []).map((g) => g.name);
  }

  /** Read the list again (a workload the stream knows that the list did not have). */
  function refetch() {
    if (refetching) return;
    refetching = load()
      .then(() => draw())
      .catch((err) => {
        if (!ctx.signal.aborted) toast(err.message, "error");
      })
      .finally(() => {
        refetching = null;
      });
  }

  /** The list row with the stream's live fields on top. */
  function current(name) {
    const base = rows.get(name) || { name };
    const liveView = streamState && streamState.ready ? streamState.workloads.get(name) : null;
    if (!liveView) return base;
    return {
      ...base,
      status: liveView.status,
      status_context: liveView.status_context || "",
      group: liveView.group || base.group,
      url: liveView.url !== undefined ? liveView.url : base.url,
    };
  }

  function names() {
    const all = new Set(rows.keys());
    if (streamState && streamState.ready) {
      // The stream is authoritative on what exists: a row it no longer has was removed.
      for (const name of all) if (!streamState.workloads.has(name)) all.delete(name);
      // One the list has not caught up with shows at once (its details follow the re-read).
      for (const name of streamState.workloads.keys()) all.add(name);
    }
    return [...all].sort();
  }

  function draw() {
    if (!loaded || ctx.signal.aborted) return;
    // Where the keyboard was: in the list, or on nothing (a pressed button was disabled).
    const active = document.activeElement;
    const focusKey = active && root.contains(active) ? active.dataset.key
      : !active || active === document.body ? lastFocusKey : null;
    clear(root);
    const byGroup = new Map(groups.map((g) => [g, []]));
    for (const name of names()) {
      const w = current(name);
      const group = w.group || "default";
      if (!byGroup.has(group)) byGroup.set(group, []);
      byGroup.get(group).push(w);
    }
    const total = [...byGroup.values()].reduce((n, list) => n + list.length, 0);
    if (total === 0) {
      root.append(h("div", { class: "empty" },
        h("p", {}, "No MCP servers yet."),
        h("p", {}, h("a", { href: "/ui/install", "data-nav": true }, "Install one from the registry"), " or run a custom image or package.")));
    }
    const ordered = [...byGroup.keys()].sort((a, b) => (a === "default" ? -1 : b === "default" ? 1 : a.localeCompare(b)));
    for (const group of ordered) root.append(groupSection(group, byGroup.get(group)));
    if (focusKey) {
      // The same control, or (Stop became Start) the first action of the same server's row.
      const name = focusKey.slice(focusKey.indexOf(":") + 1);
      const again = root.querySelector(`[data-key="${CSS.escape(focusKey)}"]`)
        || root.querySelector(`tr[data-name="${CSS.escape(name)}"] td .actions button`);
      if (again) again.focus();
    }
  }

  function groupSection(group, list) {
    const headingId = newId("group");
    const bulk = (label, verb, danger = false) =>
      h("button", {
        type: "button",
        class: danger ? "btn btn-small btn-danger" : "btn btn-small",
        disabled: list.length === 0,
        "aria-label": `${label} in ${group}`,
        dataset: { key: `bulk-${verb}:${group}` },
        onclick: (e) => bulkAction(e.currentTarget, group, verb, list.length),
      }, label);
    const section = h("section", { class: "section server-group", "aria-labelledby": headingId },
      h("div", { class: "group-header" },
        h("h2", { id: headingId }, group, " ", h("span", { class: "muted group-count" }, `(${list.length})`)),
        h("div", { class: "actions" }, bulk("Stop all", "stop"), bulk("Restart all", "restart"), bulk("Remove all", "delete", true))));
    if (list.length === 0) {
      section.append(h("p", { class: "muted" }, "No servers in this group."));
      return section;
    }
    section.append(h("div", { class: "table-wrap" },
      h("table", { class: "data stack servers-table" },
        h("caption", { class: "visually-hidden" }, `Servers in ${group}`),
        h("thead", {}, h("tr", {},
          ["Name", "Status", "Package", "Transport", "URL", "Actions"].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, list.map(serverRow)))));
    return section;
  }

  function serverRow(w) {
    const status = w.status || "unknown";
    const reason = w.status_context
      ? h("p", { class: BAD.has(status) ? "reason reason-bad" : "reason muted" }, w.status_context)
      : null;
    const transport = w.transport_type
      ? [w.transport_type, w.transport_type === "stdio" && w.proxy_mode ? h("span", { class: "muted" }, ` → ${w.proxy_mode}`) : null]
      : h("span", { class: "muted" }, "—");
    let url = h("span", { class: "muted" }, "—");
    if (w.url) {
      const copy = copyButton(w.url, "Copy");
      copy.dataset.key = `copy:${w.name}`; // focus survives a redraw
      url = h("div", { class: "url-cell" }, h("code", { class: "url" }, w.url), copy);
    }
    const act = (label, verb, extra = {}) =>
      h("button", {
        type: "button",
        class: extra.danger ? "btn btn-small btn-danger" : "btn btn-small",
        "aria-label": extra.aria || `${label} ${w.name}`,
        dataset: { key: `${extra.key || verb}:${w.name}` },
        onclick: (e) => extra.onclick ? extra.onclick(e.currentTarget) : rowAction(e.currentTarget, w.name, verb, label),
      }, label);
    // A remote server's sign-in comes first: "Sign in" (a link to its login) or "Sign in
    // again" (a restart that signs in; it replaces Restart).
    const signIn = signInControls(w);
    const buttons = STOPPED.has(status)
      ? [act("Start", "restart", { key: "start" })]
      : [act("Stop", "stop"), status === "unauthenticated" ? null : act("Restart", "restart")];
    buttons.unshift(...signIn);
    buttons.push(act("Move…", "move", { onclick: () => moveDialog(w), aria: `Move or copy ${w.name}` }));
    buttons.push(act("Remove", "remove", { danger: true, onclick: (btn) => removeOne(btn, w.name) }));
    return h("tr", { dataset: { name: w.name } },
      h("th", { scope: "row", "data-label": "Name", class: "server-name" },
        h("span", { class: "name" }, w.name),
        h("span", { class: "server-links" },
          h("a", { href: uiPath(w.name, "logs"), "data-nav": true, "aria-label": `Logs of ${w.name}` }, "Logs"),
          h("a", { href: uiPath(w.name, "playground"), "data-nav": true, "aria-label": `Playground of ${w.name}` }, "Playground"),
          h("a", { href: uiPath(w.name, "tools"), "data-nav": true, "aria-label": `Customize tools of ${w.name}` }, "Customize tools"))),
      h("td", { "data-label": "Status" }, statusBadge(status), reason),
      h("td", { "data-label": "Package", class: "package" }, w.package ? h("code", {}, w.package) : h("span", { class: "muted" }, w.remote ? "remote" : "—")),
      h("td", { "data-label": "Transport" }, transport),
      h("td", { "data-label": "URL" }, url),
      h("td", { "data-label": "Actions" }, h("div", { class: "actions" }, buttons)));
  }

  async function rowAction(button, name, verb, label) {
    button.disabled = true;
    try {
      await post(`workloads/${seg(name)}/${verb}`);
      toast(`${label}: ${name}`, "info");
    } catch (err) {
      toast(err.message, "error");
      button.disabled = false;
    }
    // The button comes back with the next status change (the row is drawn again).
  }

  async function removeOne(button, name) {
    const ok = await confirmDialog(`Remove ${name}? Its server stops and its configuration is deleted.`, { confirm: "Remove", danger: true });
    if (!ok) return;
    button.disabled = true;
    try {
      await del(`workloads/${seg(name)}`);
      toast(`Removing ${name}`, "info");
    } catch (err) {
      toast(err.message, "error");
      button.disabled = false;
    }
  }

  async function bulkAction(button, group, verb, count) {
    if (verb === "delete") {
      const ok = await confirmDialog(`Remove all ${count} servers of ${group}? The group itself stays.`, { confirm: "Remove all", danger: true });
      if (!ok) return;
    }
    button.disabled = true;
    try {
      await post(`workloads/${verb}`, { group });
      const done = { stop: "Stopping", restart: "Restarting", delete: "Removing" }[verb];
      toast(`${done} every server of ${group}`, "info");
    } catch (err) {
      toast(err.message, "error");
    } finally {
      button.disabled = false;
    }
  }

  // Move (POST …/edit with the current configuration and another group: the workload is
  // recreated there, same name and port) or copy (POST workloads: a second workload in the
  // other group, a new name and port), as ToolHive Studio's "copy to group" does.
  function moveDialog(w) {
    const others = groups.filter((g) => g !== (w.group || "default"));
    const titleId = newId("move-title");
    const errorSlot = h("div");
    const groupSelect = h("select", { id: newId("move-group"), name: "group", required: true },
      others.map((g) => h("option", { value: g }, g)));
    const modeMove = h("input", { type: "radio", name: "mode", value: "move", id: newId("mode"), checked: true });
    const modeCopy = h("input", { type: "radio", name: "mode", value: "copy", id: newId("mode") });
    const copyName = h("input", { id: newId("copy-name"), name: "copy-name", value: `${w.name}-copy`, autocomplete: "off" });
    const copyField = h("div", { class: "field", hidden: true }, h("label", { for: copyName.id }, "Name of the copy"), copyName);
    const submit = h("button", { value: "ok", class: "btn btn-primary" }, "Move");
    for (const radio of [modeMove, modeCopy]) {
      radio.addEventListener("change", () => {
        copyField.hidden = !modeCopy.checked;
        submit.textContent = modeCopy.checked ? "Copy" : "Move";
      });
    }
    const dialog = h("dialog", { class: "dialog move-dialog", "aria-labelledby": titleId },
      h("form", { method: "dialog" },
        h("h2", { id: titleId }, `Move or copy ${w.name}`),
        others.length === 0
          ? h("p", {}, "There is no other group. ", h("a", { href: "/ui/groups", "data-nav": true }, "Create one"), " first.")
          : [
            h("div", { class: "field" }, h("label", { for: groupSelect.id }, "To group"), groupSelect),
            h("fieldset", {}, h("legend", {}, "How"),
              h("div", { class: "field field-check" }, modeMove, h("label", { for: modeMove.id }, "Move: recreate it in that group (same name and port; the server restarts)")),
              h("div", { class: "field field-check" }, modeCopy, h("label", { for: modeCopy.id }, "Copy: a second server with the same configuration in that group"))),
            copyField,
          ],
        errorSlot,
        h("div", { class: "actions" },
          h("button", { value: "cancel", class: "btn", formnovalidate: true }, "Cancel"),
          others.length ? submit : null)));
    dialog.addEventListener("cancel", () => dialog.remove());
    dialog.querySelector("form").addEventListener("submit", async (event) => {
      if (event.submitter && event.submitter.value === "cancel") {
        dialog.close();
        dialog.remove();
        return;
      }
      event.preventDefault();
      submit.disabled = true;
      clear(errorSlot);
      try {
        const config = await get(`workloads/${seg(w.name)}`);
        const target = groupSelect.value;
        if (modeCopy.checked) {
          const { proxy_port: _port, ...rest } = config;
          await post("workloads", { ...rest, name: copyName.value.trim(), group: target });
          toast(`Copied ${w.name} to ${target} as ${copyName.value.trim()}`, "ok");
        } else {
          await post(`workloads/${seg(w.name)}/edit`, { ...config, group: target });
          toast(`Moved ${w.name} to ${target}`, "ok");
        }
        dialog.close();
        dialog.remove();
        refetch();
      } catch (err) {
        errorSlot.append(errorBox(err instanceof ApiError && err.field ? `${err.field}: ${err.message}` : err));
        submit.disabled = false;
      }
    });
    document.body.append(dialog);
    dialog.showModal();
  }

  function describeConnection(state) {
    const words = {
      connecting: "Connecting to live updates…",
      live: "Live: changes appear as they happen.",
      reconnecting: "Live updates interrupted; reconnecting…",
      unauthorized: "Live updates need you to sign in.",
    };
    live.textContent = words[state.connection] || "";
  }

  try {
    await load();
  } catch (err) {
    if (ctx.signal.aborted) return undefined;
    root.removeAttribute("aria-busy");
    root.append(errorBox(err));
    return undefined;
  }
  loaded = true;
  draw();
  root.removeAttribute("aria-busy");

  const unsubscribe = watchWorkloads((state, change) => {
    streamState = state;
    describeConnection(state);
    if (!state.ready) return;
    // A workload the list does not know (created elsewhere) or one that changed group: read the
    // list again for its package and transport.
    const unknown = [...state.workloads.keys()].some((name) => !rows.has(name));
    if (unknown || (change && change.type === "created")) refetch();
    draw();
  });
  const unwatchSignIns = watchSignIns(() => draw());
  return () => {
    unsubscribe();
    unwatchSignIns();
  };
}

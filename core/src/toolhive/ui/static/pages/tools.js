// Customize tools of one workload: which tools its clients see (ToolHive's tool filter,
// `tools`) and what they are called and how they are described (`tools_override`, keyed by the
// server's own tool name). Applied with POST workloads/{name}/edit, which recreates the workload;
// the view follows its status on the event stream until it runs again.
//
// Where the tool list comes from (what the server has, including the tools the filter hides):
// the registry entry's `tools` (the workload's registry_server_name, else the entry that runs the
// same image or package), what the server lists now through its proxy (names mapped back through
// the overrides), and the names in the filter and the overrides. A hidden tool that none of these
// names cannot be known without unfiltering the server, and the view says so.

import { ApiError, get, post, seg } from "../lib/api.js";
import { busy, clear, errorBox, field, h, pageHeader, statusBadge, toast } from "../lib/dom.js";
import { watchWorkloads } from "../lib/events.js";
import { signInControls, watchSignIns } from "../lib/signin.js";

/** An image or package without its tag, digest or version: `uvx://pkg@1.2` → `uvx://pkg`. */
function imageBase(image) {
  let s = (image || "").trim();
  const scheme = /^[a-z]+:\/\//.exec(s);
  if (scheme) {
    const rest = s.slice(scheme[0].length);
    const at = rest.lastIndexOf("@");
    return scheme[0] + (at > 0 ? rest.slice(0, at) : rest).split(/[=<>~!]/)[0];
  }
  s = s.split("@")[0];
  const colon = s.lastIndexOf(":");
  return colon > s.lastIndexOf("/") ? s.slice(0, colon) : s;
}

async function registryTools(config, exported, signal) {
  const serverName = exported.registry_server_name || "";
  try {
    if (serverName) {
      const detail = await get(`registry/default/servers/${serverName.split("/").map(seg).join("/")}`, { signal });
      if (detail.server && Array.isArray(detail.server.tools)) return { entry: detail.server.name, tools: detail.server.tools, how: "entry" };
    }
    const list = await get("registry/default/servers", { signal });
    const image = config.image || "";
    const exact = (list.servers || []).find((s) => s.image === image);
    const same = exact || (list.servers || []).find((s) => imageBase(s.image) === imageBase(image));
    if (same && Array.isArray(same.tools) && same.tools.length) return { entry: same.name, tools: same.tools, how: exact ? "image" : "package" };
  } catch (err) {
    if (signal.aborted) throw err;
    // No registry here (a core-only install) or it cannot be read: the other sources remain.
  }
  return null;
}

export async function render(main, params, ctx) {
  const name = params[0];
  const root = h("div", { class: "tools-page", "aria-busy": "true" });
  main.append(
    pageHeader(`Customize tools: ${name}`,
      h("a", { href: "/", "data-nav": true, class: "btn" }, "All servers"),
      h("a", { href: `/ui/servers/${seg(name)}/playground`, "data-nav": true, class: "btn" }, "Playground")),
    h("p", { class: "muted tools-note" },
      "Choose the tools this server's clients see, and rename or redescribe them. ToolHive's tools middleware applies this in the server's proxy; applying recreates the server, which restarts it."),
    root,
  );

  // Live status: Apply waits on it for the workload to run again.
  let status = "";
  let statusContext = "";
  let statusTime = "";
  // Since Apply: the workload left "running" (removed, starting …), or its running status is a
  // newer one than before — either way the running workload is the new one.
  let seenOthers = false;
  let timeBefore = "";
  let onRunning = null;
  const unsubscribe = watchWorkloads((state) => {
    const w = state.workloads.get(name);
    status = w ? w.status : "";
    statusContext = w ? w.status_context || "" : "";
    statusTime = w ? w.time || "" : "";
    if (status !== "running") seenOthers = true;
    if (onRunning) onRunning();
  });

  async function load(message) {
    root.setAttribute("aria-busy", "true");
    clear(root);
    root.append(h("p", { class: "muted" }, "Loading the server's tools…"));
    let config;
    let exported;
    try {
      [config, exported] = await Promise.all([
        get(`workloads/${seg(name)}`, { signal: ctx.signal }),
        get(`workloads/${seg(name)}/export`, { signal: ctx.signal }),
      ]);
    } catch (err) {
      if (ctx.signal.aborted) return;
      clear(root);
      root.append(errorBox(err), h("p", {}, h("a", { href: "/", "data-nav": true }, "Back to the servers")));
      root.removeAttribute("aria-busy");
      return;
    }
    let caps = null;
    let capsProblem = "";
    const [capsAnswer, registry] = await Promise.all([
      get(`workloads/${seg(name)}/mcp/capabilities`, { signal: ctx.signal }).catch((err) => err),
      registryTools(config, exported, ctx.signal).catch(() => null),
    ]);
    if (ctx.signal.aborted) return;
    if (capsAnswer instanceof Error) {
      capsProblem = capsAnswer instanceof ApiError && capsAnswer.status === 409
        ? "The server is not running, so its own tool descriptions are not shown."
        : `The server's tool list could not be read (${capsAnswer.message}).`;
    } else {
      caps = capsAnswer;
    }
    clear(root);
    if (message) root.append(message);
    root.append(editor(config, caps, capsProblem, registry));
    root.removeAttribute("aria-busy");
  }

  function editor(config, caps, capsProblem, registry) {
    const filter = (config.tools || []).filter(Boolean);
    const overrides = config.tools_override || {};
    const backendOf = new Map(); // name clients see → server's name
    for (const [backend, o] of Object.entries(overrides)) if (o && o.name) backendOf.set(o.name, backend);
    const tools = new Map(); // server's name → {serverDescription, sources}
    const add = (backend, description) => {
      const t = tools.get(backend) || { serverDescription: undefined };
      if (description !== undefined) t.serverDescription = description;
      tools.set(backend, t);
    };
    for (const t of (registry && registry.tools) || []) add(t);
    for (const t of (caps && caps.tools) || []) {
      const backend = backendOf.get(t.name) || t.name;
      const overridden = overrides[backend] && overrides[backend].description;
      add(backend, overridden ? undefined : t.description || "");
    }
    for (const f of filter) add(backendOf.get(f) || f);
    for (const backend of Object.keys(overrides)) add(backend);
    const visibleName = (backend) => (overrides[backend] && overrides[backend].name) || backend;
    const enabledNow = (backend) => !filter.length || filter.includes(visibleName(backend));
    // Complete when nothing is hidden, or the registry entry names every tool the server has.
    const complete = !filter.length || Boolean(registry);

    const notes = [];
    if (registry) {
      const how = registry.how === "entry" ? "" : registry.how === "image" ? " (it runs the same image)" : " (it runs the same package; another version may differ)";
      notes.push(`The tools are those the registry entry ${registry.entry} lists${how}, and what the server offers now.`);
    }
    if (!complete) {
      notes.push("The filter hides tools this page cannot name: ToolHive knows a hidden tool only from a registry entry, and this server has none. To see every tool, remove the filter (the server restarts), then filter again.");
    }
    if (capsProblem) notes.push(capsProblem);

    const problem = h("div", { class: "tools-problem", "aria-live": "polite" });
    const form = h("form", { class: "tools-form", novalidate: true });
    const list = h("div", { class: "tools-list" });
    form.append(list);
    const rows = [];
    for (const [backend, info] of [...tools.entries()].sort(([a], [b]) => a.localeCompare(b))) {
      const o = overrides[backend] || {};
      const enabled = field({ label: "Visible to clients", name: "enabled", kind: "checkbox", value: enabledNow(backend) });
      const rename = field({ label: "Name for clients", name: "name", value: o.name || "", placeholder: backend, help: "Empty keeps the server's name.", attrs: { autocomplete: "off", spellcheck: "false" } });
      const describe = field({
        label: "Description for clients", name: "description", kind: "textarea", value: o.description || "",
        placeholder: info.serverDescription || "", help: "Empty keeps the server's description.", attrs: { rows: "3" },
      });
      const renameError = h("p", { class: "field-error", hidden: true });
      rename.append(renameError);
      const server = info.serverDescription
        ? h("p", { class: "muted tools-origin pg-text" }, "Server's description: ", info.serverDescription)
        : null;
      const box = h("fieldset", { class: "card tools-item" }, h("legend", {}, backend), enabled, server, h("div", { class: "tools-override" }, rename, describe));
      const checkbox = enabled.querySelector("input");
      const sync = () => {
        box.classList.toggle("tools-off", !checkbox.checked);
        for (const c of box.querySelectorAll(".tools-override input, .tools-override textarea")) c.disabled = !checkbox.checked;
      };
      checkbox.addEventListener("change", sync);
      sync();
      const row = { backend, checkbox, nameInput: rename.querySelector("input"), descInput: describe.querySelector("textarea"), renameError, info };
      // A change answers the last refusal: its message goes.
      box.addEventListener("input", () => {
        row.renameError.hidden = true;
        row.renameError.textContent = "";
        row.nameInput.removeAttribute("aria-invalid");
        clear(problem);
      });
      rows.push(row);
      list.append(box);
    }

    const progress = h("div", { class: "tools-progress", role: "status" });
    const apply = h("button", { type: "submit", class: "btn btn-primary" }, "Apply and restart");
    const reset = h("button", { type: "button", class: "btn" }, "Undo changes");
    reset.addEventListener("click", () => load());
    const actions = [apply, reset];
    if (!complete) {
      const unfilter = h("button", { type: "button", class: "btn" }, "Remove the filter");
      unfilter.addEventListener("click", () => busy(unfilter, () => submit(config, [], overridesOf(rows, true) || {})));
      actions.push(unfilter);
    }

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      clear(problem);
      const built = build(rows, complete);
      if (built.error) {
        problem.append(errorBox(built.error));
        if (built.focus) built.focus.focus();
        return;
      }
      busy(apply, () => submit(config, built.tools, built.overrides));
    });

    async function submit(current, toolsFilter, toolsOverride) {
      clear(problem);
      const body = { ...current, tools: toolsFilter, tools_override: Object.keys(toolsOverride).length ? toolsOverride : null };
      for (const b of [apply, reset]) b.disabled = true;
      clear(progress);
      progress.append(h("p", {}, "Saving the new configuration…"));
      seenOthers = false;
      timeBefore = statusTime;
      try {
        await post(`workloads/${seg(name)}/edit`, body, { signal: ctx.signal });
      } catch (err) {
        if (ctx.signal.aborted) return;
        clear(progress);
        problem.append(errorBox(err));
        for (const b of [apply, reset]) b.disabled = false;
        return;
      }
      await waitForRunning(progress);
    }

    if (!rows.length) {
      form.append(h("p", { class: "empty" }, "No tools are known for this server: it lists none, and no registry entry names its tools."));
      apply.disabled = true;
    }
    form.append(problem, h("div", { class: "actions" }, actions), progress);
    return h("div", {}, notes.map((n) => h("p", { class: "tools-note" }, n)), form);
  }

  function waitForRunning(progress) {
    return new Promise((resolve) => {
      const line = h("p", {}, "Restarting ", h("strong", {}, name), "… ");
      const badge = h("span", {});
      line.append(badge);
      clear(progress);
      progress.append(line);
      const check = () => {
        const active = document.activeElement;
        const focused = badge.contains(active) ? active.dataset.key : null;
        clear(badge);
        if (status) badge.append(statusBadge(status));
        // A remote server whose restart waits for its login: sign in from here.
        const signIn = signInControls({ name, status, status_context: statusContext });
        if (signIn.length) badge.append(" ", ...signIn);
        const again = focused && badge.querySelector(`[data-key="${CSS.escape(focused)}"]`);
        if (again) again.focus();
        if (status === "running" && (seenOthers || statusTime !== timeBefore)) {
          onRunning = null;
          const done = h("div", { class: "card tools-progress", role: "status" },
            h("p", {}, h("strong", {}, `${name} is running again`), " with the new tool settings. ",
              h("a", { href: `/ui/servers/${seg(name)}/playground`, "data-nav": true }, "Open the playground")));
          toast(`${name}: tool settings applied`, "ok");
          load(done).then(resolve);
        } else if (["error", "unhealthy", "stopped"].includes(status) && seenOthers) {
          onRunning = null;
          clear(progress);
          progress.append(errorBox(`${name} is ${status}${statusContext ? `: ${statusContext}` : ""}. See its logs.`),
            h("p", {}, h("a", { href: `/ui/servers/${seg(name)}/logs`, "data-nav": true }, "Open the logs")));
          resolve();
        }
      };
      onRunning = check;
      check();
    });
  }

  const unwatchSignIns = watchSignIns(() => {
    if (onRunning) onRunning();
  });
  await load();
  return () => {
    onRunning = null;
    unsubscribe();
    unwatchSignIns();
  };
}

/** tools_override from the rows: {server name: {name, description}} for what differs. */
function overridesOf(rows, all = false) {
  const out = {};
  for (const r of rows) {
    if (!all && !r.checkbox.checked) continue; // a hidden tool cannot keep an override (the middleware refuses it)
    const newName = r.nameInput.value.trim();
    const desc = r.descInput.value.trim();
    const o = {};
    if (newName && newName !== r.backend) o.name = newName;
    if (desc && desc !== (r.info.serverDescription || "")) o.description = desc;
    if (o.name || o.description) out[r.backend] = { name: o.name || "", description: o.description || "" };
  }
  return Object.keys(out).length ? out : null;
}

/** The filter and overrides the rows ask for, or {error, focus} for what the middleware would refuse. */
function build(rows, complete) {
  for (const r of rows) {
    r.renameError.hidden = true;
    r.nameInput.removeAttribute("aria-invalid");
  }
  const enabled = rows.filter((r) => r.checkbox.checked);
  if (!enabled.length) {
    return { error: "Keep at least one tool visible (an empty filter would show them all).", focus: rows[0] && rows[0].checkbox };
  }
  const overrides = overridesOf(rows) || {};
  const renamed = new Set(Object.entries(overrides).filter(([, o]) => o.name).map(([b]) => b));
  const seen = new Map();
  for (const r of enabled) {
    const visible = (overrides[r.backend] && overrides[r.backend].name) || r.backend;
    const fail = (message) => {
      r.renameError.textContent = message;
      r.renameError.hidden = false;
      r.nameInput.setAttribute("aria-invalid", "true");
      return { error: `${r.backend}: ${message}`, focus: r.nameInput };
    };
    if (visible !== r.backend && rows.some((o) => o.backend === visible && !renamed.has(o.backend))) {
      return fail(`the server has a tool named “${visible}” (rename that one too, or choose another name).`);
    }
    if (seen.has(visible)) return fail(`clients already see ${seen.get(visible)} as “${visible}”; choose another name.`);
    seen.set(visible, r.backend);
  }
  const allVisible = enabled.length === rows.length;
  const tools = allVisible && complete ? [] : enabled.map((r) => (overrides[r.backend] && overrides[r.backend].name) || r.backend);
  return { tools, overrides };
}

// Install form: a registry entry's detail and a createRequest form generated from it
// (/ui/install/server/<name>), or the same form for a custom package, image or remote URL
// (/ui/install/custom). Secrets are chosen from the store or created in place (their value is
// sent once and never shown again); the API's 400 marks the field it names. After submit, a
// progress panel follows the workload on the event stream until it runs or fails.

import { ApiError, get, post, seg } from "../lib/api.js";
import { errorBox, field, h, newId, pageHeader, statusBadge, toast } from "../lib/dom.js";
import { watchWorkloads } from "../lib/events.js";
import { signInControls, watchSignIns } from "../lib/signin.js";

const NEW_SECRET = "\u0000new";
const TRANSPORTS = [["stdio", "stdio"], ["streamable-http", "streamable-http"], ["sse", "sse"]];

const control = (wrapper) => wrapper.querySelector("input, select, textarea");
const lines = (text) => text.split(/[\n,]/).map((s) => s.trim()).filter(Boolean);

// --- secrets: chosen from the store or created in place ----------------------------------------

/** What the secrets store allows: {state: "ready"|"missing"|"unlistable", keys, canWrite}. */
async function secretsStore(signal) {
  let provider;
  try {
    provider = await get("secrets/default", { signal });
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return { state: "missing", keys: [], canWrite: false };
    throw err;
  }
  const caps = provider.capabilities;
  if (!caps.can_list) return { state: "unlistable", keys: [], canWrite: caps.can_write, type: provider.provider_type };
  const answer = await get("secrets/default/keys", { signal });
  return { state: "ready", keys: answer.keys.map((k) => k.key), canWrite: caps.can_write, type: provider.provider_type };
}

/** A secret picker: an existing key, or a new one (name + value) created before the install. */
function secretChooser(store, choosers, { label, dataField, required = false, suggested = "", help = "" }) {
  if (store.state === "missing") {
    const wrap = h("div", { class: "field" },
      h("p", { class: "field-label" }, label),
      h("p", { class: "help" }, help ? `${help} ` : "", "No secrets provider is set up: ", h("a", { href: "/ui/secrets", "data-nav": true }, "set one up"), " to give this server a secret."));
    return { el: wrap, collect: () => null, input: null };
  }
  if (store.state === "unlistable") {
    // The provider reads keys it cannot list (environment: TOOLHIVE_SECRET_<NAME>): type the name.
    const wrap = field({ label, name: "secret", required, value: "", help: `${help ? `${help} ` : ""}The ${store.type} provider cannot list its secrets: type the secret's name.`, attrs: { "data-field": dataField, autocomplete: "off" } });
    return { el: wrap, input: control(wrap), collect: () => (control(wrap).value.trim() ? { key: control(wrap).value.trim() } : null) };
  }
  const choices = [["", required ? "Choose a secret…" : "Not set"], ...store.keys.map((k) => [k, k])];
  if (store.canWrite) choices.push([NEW_SECRET, "Create a new secret…"]);
  const pick = field({ label, name: "secret", kind: "select", required, options: choices, help, attrs: { "data-field": dataField } });
  const select = control(pick);
  const newName = field({ label: `New secret's name (${label})`, name: "secret-name", value: suggested, required: true, attrs: { autocomplete: "off", "data-secret-name": "" } });
  const newValue = field({ label: `New secret's value (${label})`, name: "secret-value", kind: "password", required: true, help: "Stored in the secrets provider; never shown again.", attrs: { autocomplete: "new-password" } });
  const extra = h("div", { class: "install-new-secret", hidden: true }, newName, newValue);
  const sync = () => {
    extra.hidden = select.value !== NEW_SECRET;
    for (const input of extra.querySelectorAll("input")) input.disabled = extra.hidden;
  };
  select.addEventListener("change", sync);
  sync();
  const chooser = {
    el: h("div", { class: "install-secret" }, pick, extra),
    input: select,
    nameInput: control(newName),
    addKey(key) {
      if ([...select.options].some((o) => o.value === key)) return;
      const option = h("option", { value: key }, key);
      const last = select.options[select.options.length - 1];
      if (last && last.value === NEW_SECRET) select.insertBefore(option, last);
      else select.append(option);
    },
    /** The new secret now exists: choose it, forget its value. */
    created(key) {
      for (const other of choosers) other.addKey(key);
      select.value = key;
      control(newValue).value = "";
      sync();
    },
    collect() {
      if (select.value === NEW_SECRET) {
        return { key: control(newName).value.trim(), value: control(newValue).value, chooser };
      }
      return select.value ? { key: select.value } : null;
    },
  };
  choosers.push(chooser);
  return chooser;
}

// --- repeatable rows ---------------------------------------------------------------------------

/** A list of rows with an "Add" button; make(index) → {el, collect(), focus}. */
function rows({ legend, help, addLabel, make, initial = 0 }) {
  const list = h("div", { class: "install-rows" });
  const items = [];
  const add = (focus) => {
    const item = make();
    const remove = h("button", { type: "button", class: "btn btn-small", "aria-label": `Remove ${addLabel.toLowerCase()} row` }, "Remove");
    const row = h("div", { class: "install-row" }, item.el, remove);
    remove.addEventListener("click", () => {
      items.splice(items.indexOf(item), 1);
      row.remove();
      addButton.focus();
    });
    items.push(item);
    list.append(row);
    if (focus && item.focus) item.focus.focus();
  };
  const addButton = h("button", { type: "button", class: "btn btn-small" }, `Add ${addLabel.toLowerCase()}`);
  addButton.addEventListener("click", () => add(true));
  for (let i = 0; i < initial; i += 1) add(false);
  const el = h("fieldset", {}, h("legend", {}, legend), help ? h("p", { class: "help" }, help) : null, list, addButton);
  return { el, items };
}

function volumeRow() {
  const host = field({ label: "Host path", name: "volume-host", placeholder: "/home/me/data", attrs: { autocomplete: "off" } });
  const inside = field({ label: "Path in the server", name: "volume-target", placeholder: "/data (same as the host path if empty)", attrs: { autocomplete: "off" } });
  const ro = field({ label: "Read only", name: "volume-ro", kind: "checkbox" });
  return {
    el: h("div", { class: "install-row-fields" }, host, inside, ro),
    focus: control(host),
    markField: (i) => { control(host).dataset.field = `volumes.${i}`; },
    collect() {
      const from = control(host).value.trim();
      if (!from) return null;
      const to = control(inside).value.trim();
      return `${to ? `${from}:${to}` : from}${control(ro).checked ? ":ro" : ""}`;
    },
  };
}

function pairRow(keyLabel, valueLabel, { secretValue = false } = {}) {
  const key = field({ label: keyLabel, name: "key", attrs: { autocomplete: "off" } });
  const value = field({ label: valueLabel, name: "value", kind: secretValue ? "password" : "text", attrs: { autocomplete: secretValue ? "new-password" : "off" } });
  return {
    el: h("div", { class: "install-row-fields" }, key, value),
    focus: control(key),
    markField: (prefix) => { control(key).dataset.field = `${prefix}.${control(key).value.trim()}`; },
    collect: () => (control(key).value.trim() ? [control(key).value.trim(), control(value).value] : null),
  };
}

// --- the network section -----------------------------------------------------------------------

/** Network isolation and the permission profile's outbound rules, prefilled from `base`. */
function networkSection(base) {
  const outbound = (base && base.network && base.network.outbound) || {};
  const isolate = field({ label: "Network isolation", name: "network_isolation", kind: "checkbox", value: true, help: "On: the server reaches only what the permission profile below allows. Off: no network restriction at all.", attrs: { "data-field": "network_isolation" } });
  const anyHost = field({ label: "Allow any outbound host", name: "insecure_allow_all", kind: "checkbox", value: Boolean(outbound.insecure_allow_all), attrs: { "data-field": "permission_profile.network.outbound.insecure_allow_all" } });
  const hosts = field({ label: "Allowed hosts", name: "allow_host", kind: "textarea", value: (outbound.allow_host || []).join("\n"), help: "One a line; a leading dot allows subdomains (.github.com).", attrs: { "data-field": "permission_profile.network.outbound.allow_host" } });
  const ports = field({ label: "Allowed ports", name: "allow_port", value: (outbound.allow_port || []).join(", "), help: "Comma-separated, e.g. 443.", attrs: { inputmode: "numeric", "data-field": "permission_profile.network.outbound.allow_port" } });
  const sync = () => {
    const off = !control(isolate).checked || control(anyHost).checked;
    control(hosts).disabled = off;
    control(ports).disabled = off;
  };
  control(isolate).addEventListener("change", sync);
  control(anyHost).addEventListener("change", sync);
  sync();
  const el = h("fieldset", {}, h("legend", {}, "Network access"), isolate, anyHost, hosts, ports);
  const outboundNow = () => ({
    insecure_allow_all: control(anyHost).checked,
    allow_host: lines(control(hosts).value),
    allow_port: lines(control(ports).value).map(Number),
  });
  const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
  const before = { insecure_allow_all: Boolean(outbound.insecure_allow_all), allow_host: outbound.allow_host || [], allow_port: outbound.allow_port || [] };
  return {
    el,
    collect(body) {
      if (!control(isolate).checked) body.network_isolation = false;
      const now = outboundNow();
      if (now.allow_port.some((p) => !Number.isInteger(p))) {
        throw new ApiError(400, "Allowed ports: whole numbers separated by commas", "permission_profile.network.outbound.allow_port");
      }
      if (!same(now, before)) {
        // Only a changed profile is sent: otherwise the entry's (or `thv run`'s default) applies.
        body.permission_profile = {
          name: "",
          read: (base && base.read) || [],
          write: (base && base.write) || [],
          network: { outbound: now },
        };
      }
    },
  };
}

// --- the detail of a registry entry ------------------------------------------------------------

function describeNetwork(permissions) {
  const out = permissions && permissions.network && permissions.network.outbound;
  if (!out) return "Not stated by the registry entry.";
  if (out.insecure_allow_all) return "Any outbound host.";
  const hosts = out.allow_host || [];
  const ports = out.allow_port || [];
  if (!hosts.length && !ports.length) return "No outbound network.";
  return `Outbound to ${hosts.length ? hosts.join(", ") : "any host"}${ports.length ? ` on port${ports.length > 1 ? "s" : ""} ${ports.join(", ")}` : ""}.`;
}

function definition(term, ...value) {
  return [h("dt", {}, term), h("dd", {}, ...value)];
}

function detail(entry, remote) {
  const stars = entry.metadata && entry.metadata.stars;
  const dl = h("dl", { class: "install-facts" },
    definition("Registry name", h("code", {}, entry.name)),
    entry.tier ? definition("Tier", entry.tier) : null,
    entry.status && entry.status !== "Active" ? definition("Status", entry.status) : null,
    definition("Transport", entry.transport),
    remote ? definition("URL", h("code", {}, entry.url)) : definition(entry.image.includes("://") ? "Package" : "Image", h("code", {}, entry.image)),
    entry.repository_url ? definition("Repository", h("a", { href: entry.repository_url, rel: "noopener noreferrer", target: "_blank" }, entry.repository_url)) : null,
    stars ? definition("Stars", String(stars)) : null,
    entry.tags && entry.tags.length ? definition("Tags", entry.tags.map((t) => h("span", { class: "tag" }, t))) : null);
  const env = entry.env_vars || [];
  const yes = (b) => (b ? "yes" : "no");
  const envTable = env.length
    ? h("div", { class: "table-wrap" }, h("table", { class: "data stack" },
      h("thead", {}, h("tr", {}, ["Name", "Description", "Required", "Secret"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, env.map((v) => h("tr", {},
        h("th", { scope: "row", "data-label": "Name" }, h("code", {}, v.name)),
        h("td", { "data-label": "Description" }, v.description || ""),
        h("td", { "data-label": "Required" }, yes(v.required)),
        h("td", { "data-label": "Secret" }, yes(v.secret)))))))
    : h("p", { class: "muted" }, "None declared.");
  const perms = entry.permissions || {};
  return h("section", { class: "install-detail", "aria-labelledby": "about-title" },
    h("h2", { id: "about-title" }, "About"),
    h("p", {}, entry.description || "No description."),
    entry.overview ? h("p", { class: "install-overview" }, entry.overview) : null,
    dl,
    h("h3", {}, "Tools"),
    entry.tools && entry.tools.length ? h("ul", { class: "install-tools" }, entry.tools.map((t) => h("li", {}, h("code", {}, t)))) : h("p", { class: "muted" }, "Not listed by the registry."),
    h("h3", {}, remote ? "Environment variables" : "Environment variables"),
    envTable,
    remote && entry.headers && entry.headers.length
      ? [h("h3", {}, "Headers"), h("ul", {}, entry.headers.map((hd) => h("li", {}, h("code", {}, hd.name), hd.description ? ` — ${hd.description}` : "", hd.secret ? " (secret)" : "", hd.required ? " (required)" : "")))]
      : null,
    remote ? null : [
      h("h3", {}, "Permissions"),
      h("p", {}, h("strong", {}, "Network: "), describeNetwork(perms)),
      perms.read && perms.read.length ? h("p", {}, h("strong", {}, "Reads: "), perms.read.join(", ")) : null,
      perms.write && perms.write.length ? h("p", {}, h("strong", {}, "Writes: "), perms.write.join(", ")) : null,
    ]);
}

// --- errors next to the field they name --------------------------------------------------------

function clearErrors(form, top) {
  for (const el of form.querySelectorAll(".field-error")) el.remove();
  for (const el of form.querySelectorAll("[aria-invalid]")) {
    el.removeAttribute("aria-invalid");
    if (el.dataset.describedBy !== undefined) {
      if (el.dataset.describedBy) el.setAttribute("aria-describedby", el.dataset.describedBy);
      else el.removeAttribute("aria-describedby");
      delete el.dataset.describedBy;
    }
  }
  top.replaceChildren();
}

/** The control a field path names: itself, else its nearest named parent (env_vars.X → env_vars). */
function findControl(form, path) {
  let name = path;
  while (name) {
    const found = form.querySelector(`[data-field="${CSS.escape(name)}"]`);
    if (found && !found.disabled) return found;
    const cut = name.lastIndexOf(".");
    name = cut > 0 ? name.slice(0, cut) : "";
  }
  return null;
}

function showError(form, top, err, target = null) {
  let el = target;
  if (!el && err instanceof ApiError && err.field) el = findControl(form, err.field);
  if (!el && err instanceof ApiError && err.status === 409 && /already exists/.test(err.message)) {
    el = form.querySelector('[data-field="name"]');
  }
  if (!el) {
    top.replaceChildren(errorBox(err));
    top.scrollIntoView({ block: "nearest" });
    return;
  }
  const id = newId("error");
  el.setAttribute("aria-invalid", "true");
  el.dataset.describedBy = el.getAttribute("aria-describedby") || "";
  el.setAttribute("aria-describedby", [el.dataset.describedBy, id].filter(Boolean).join(" "));
  const box = el.closest(".field") || el.parentElement;
  box.append(h("p", { class: "field-error", id }, err.message));
  el.focus();
}

// --- progress after submit ---------------------------------------------------------------------

const DONE_BAD = new Set(["error", "unhealthy", "stopped", "policy_stopped", "unauthenticated"]);

function progressPanel() {
  const status = h("p", { class: "install-progress-now", role: "status", "aria-live": "polite" });
  const log = h("ol", { class: "install-progress-log" });
  const links = h("p", { class: "actions" });
  const signIn = h("p", { class: "actions install-signin", hidden: true });
  const el = h("section", { class: "card install-progress", "aria-labelledby": "progress-title", hidden: true },
    h("h2", { id: "progress-title" }, "Progress"), status, log, signIn, links);
  let last = "";
  return {
    el,
    start(text) {
      el.hidden = false;
      el.scrollIntoView({ block: "nearest" });
      log.replaceChildren();
      links.replaceChildren();
      this.signIn();
      last = "";
      this.say(text);
    },
    say(text, badge) {
      if (text === last) return;
      last = text;
      status.replaceChildren(badge ? statusBadge(badge) : "", badge ? " " : "", text);
      log.append(h("li", {}, text));
    },
    links(...items) {
      links.replaceChildren(...items);
    },
    /** A remote server's sign-in controls (none: the slot is hidden). */
    signIn(...items) {
      const focused = signIn.contains(document.activeElement) ? document.activeElement.dataset.key : null;
      signIn.replaceChildren(...items);
      signIn.hidden = items.length === 0;
      const again = focused && signIn.querySelector(`[data-key="${CSS.escape(focused)}"]`);
      if (again) again.focus();
    },
    hide() {
      el.hidden = true;
    },
  };
}

// --- the form ----------------------------------------------------------------------------------

export async function render(main, params, ctx) {
  const serverName = params[0] || "";
  const custom = !serverName;
  main.append(pageHeader(custom ? "Install a custom server" : "Install", h("a", { class: "btn", href: "/ui/install", "data-nav": true }, "All servers")));
  const body = h("div", { "aria-busy": "true" }, h("p", { class: "muted" }, "Loading…"));
  main.append(body);

  let entry = null;
  let remote = false;
  let groups;
  let store;
  try {
    const [found, groupList, secrets] = await Promise.all([
      custom ? null : get(`registry/default/servers/${serverName.split("/").map(seg).join("/")}`, { signal: ctx.signal }),
      get("groups", { signal: ctx.signal }),
      secretsStore(ctx.signal).catch((err) => ({ state: "missing", keys: [], canWrite: false, error: err })),
    ]);
    groups = groupList.groups.map((g) => g.name);
    store = secrets;
    if (found) {
      remote = found.is_remote;
      entry = remote ? found.remote_server : found.server;
    }
  } catch (err) {
    if (ctx.signal.aborted) return undefined;
    body.replaceChildren(errorBox(err));
    body.removeAttribute("aria-busy");
    return undefined;
  }
  if (entry) {
    const title = entry.title || entry.name.split("/").pop();
    main.querySelector("h1").textContent = `Install ${title}`;
    document.title = `Install ${title} · ToolHive`;
  }

  const choosers = [];
  const collectors = []; // (body, pending) → void; may throw ApiError naming a field
  const top = h("div", { class: "install-form-errors" });
  const progress = progressPanel();
  const parts = [];

  // What to run: the entry, or a package/image/URL typed in.
  let kindOf = () => (remote ? "url" : "image");
  let syncKind = () => {};
  if (custom) {
    const pick = newId("kind");
    const radio = (value, label, checked) => h("div", { class: "field field-check" },
      h("input", { type: "radio", name: "kind", id: `${pick}-${value}`, value, checked }),
      h("label", { for: `${pick}-${value}` }, label));
    const kinds = h("fieldset", {}, h("legend", {}, "What to run"), radio("image", "A package or container image", true), radio("url", "A remote MCP server (URL)", false));
    const image = field({ label: "Package or image", name: "image", required: true, placeholder: "uvx://mcp-server-time", help: "uvx://package, npx://package, go://module (built or installed for you), or a container image such as ghcr.io/org/server:1.0.", attrs: { "data-field": "image", autocomplete: "off", spellcheck: "false" } });
    const url = field({ label: "Server URL", name: "url", kind: "url", required: true, placeholder: "https://mcp.example.com/mcp", attrs: { "data-field": "url", autocomplete: "off" } });
    const transport = field({ label: "Transport", name: "transport", kind: "select", value: "stdio", options: TRANSPORTS, attrs: { "data-field": "transport" } });
    const args = field({ label: "Command arguments", name: "cmd_arguments", kind: "textarea", help: "One argument a line, passed to the server after its command.", attrs: { "data-field": "cmd_arguments", spellcheck: "false" } });
    kindOf = () => kinds.querySelector("input:checked").value;
    const sync = () => {
      const isUrl = kindOf() === "url";
      image.hidden = isUrl;
      control(image).disabled = isUrl;
      args.hidden = isUrl;
      url.hidden = !isUrl;
      control(url).disabled = !isUrl;
      const t = control(transport);
      t.querySelector('option[value="stdio"]').disabled = isUrl;
      if (isUrl && t.value === "stdio") t.value = "streamable-http";
      if (!isUrl && t.value === "streamable-http" && !t.dataset.touched) t.value = "stdio";
      // A hidden section's fieldset is disabled too: its required fields must not block submit.
      for (const el of main.querySelectorAll("[data-local-only]")) el.hidden = el.disabled = isUrl;
      for (const el of main.querySelectorAll("[data-remote-only]")) el.hidden = el.disabled = !isUrl;
    };
    control(transport).addEventListener("change", () => { control(transport).dataset.touched = "1"; });
    for (const input of kinds.querySelectorAll("input")) input.addEventListener("change", sync);
    parts.push(kinds, image, url, transport, args);
    syncKind = sync;
    collectors.push((out) => {
      if (kindOf() === "url") out.url = control(url).value.trim();
      else {
        out.image = control(image).value.trim();
        const argv = control(args).value.split("\n").map((s) => s.trim()).filter(Boolean);
        if (argv.length) out.cmd_arguments = argv;
      }
      out.transport = control(transport).value;
    });
  }

  // Name and group.
  const defaultName = entry ? entry.name.split("/").pop() : "";
  const nameField = field({ label: "Name", name: "name", value: defaultName, help: custom ? "Leave empty for one derived from what runs." : "", attrs: { "data-field": "name", autocomplete: "off", spellcheck: "false" } });
  const wantedGroup = ctx.query.get("group");
  const groupField = field({ label: "Group", name: "group", kind: "select", value: groups.includes(wantedGroup) ? wantedGroup : "default", options: groups.map((g) => [g, g]), attrs: { "data-field": "group" } });
  parts.push(nameField, groupField);
  collectors.push((out) => {
    const name = control(nameField).value.trim();
    if (name) out.name = name;
    out.group = control(groupField).value;
  });

  // Environment variables: the entry's declared ones; free rows for a custom server.
  const secrets = []; // {collect, target}
  if (entry && !remote && entry.env_vars && entry.env_vars.length) {
    const fields = [];
    for (const v of entry.env_vars) {
      if (v.secret) {
        const chooser = secretChooser(store, choosers, { label: v.name, dataField: `env_vars.${v.name}`, required: v.required, suggested: v.name.toLowerCase().replace(/_/g, "-"), help: v.description });
        fields.push(chooser.el);
        secrets.push({ chooser, target: v.name });
      } else {
        const f = field({ label: v.name, name: v.name, value: v.default || "", required: v.required, help: v.description, attrs: { "data-field": `env_vars.${v.name}`, autocomplete: "off", spellcheck: "false" } });
        fields.push(f);
        collectors.push((out) => {
          const value = control(f).value;
          if (value !== "") out.env_vars = { ...out.env_vars, [v.name]: value };
        });
      }
    }
    parts.push(h("fieldset", {}, h("legend", {}, "Environment variables"), h("p", { class: "help" }, "Secret ones come from the secrets store; their values never appear here."), fields));
  } else if (custom) {
    const env = rows({ legend: "Environment variables", addLabel: "Variable", make: () => pairRow("Variable name", "Value") });
    env.el.dataset.localOnly = "";
    parts.push(env.el);
    collectors.push((out) => {
      if (kindOf() === "url") return;
      for (const item of env.items) {
        item.markField("env_vars");
        const pair = item.collect();
        if (pair) out.env_vars = { ...out.env_vars, [pair[0]]: pair[1] };
      }
    });
    const secretRows = rows({
      legend: "Secrets",
      help: "A secret from the store, given to the server as an environment variable.",
      addLabel: "Secret",
      make: () => {
        const chooser = secretChooser(store, choosers, { label: "Secret", dataField: "secrets" });
        const target = field({ label: "As variable", name: "target", required: true, placeholder: "API_KEY", attrs: { autocomplete: "off", "data-field": "secrets.target" } });
        const item = { el: h("div", { class: "install-row-fields" }, chooser.el, target), focus: chooser.input, chooser, targetInput: control(target) };
        secrets.push({ chooser, targetInput: control(target), item });
        return item;
      },
    });
    secretRows.el.dataset.localOnly = "";
    parts.push(secretRows.el);
    // Rows removed since are skipped: only those still listed count.
    collectors.push(() => {
      const live = new Set(secretRows.items);
      for (let i = secrets.length - 1; i >= 0; i -= 1) if (secrets[i].item && !live.has(secrets[i].item)) secrets.splice(i, 1);
    });
  }

  // Headers of a remote server: the entry's declared ones, plus any the user adds.
  if (remote || custom) {
    const declared = [];
    if (entry && entry.headers) {
      for (const hd of entry.headers) {
        if (hd.secret) {
          const chooser = secretChooser(store, choosers, { label: `Header ${hd.name}`, dataField: `header_forward.add_headers_from_secret.${hd.name}`, required: hd.required, suggested: hd.name.toLowerCase(), help: hd.description });
          declared.push(chooser.el);
          collectors.push((out, pending) => {
            const chosen = chooser.collect();
            if (!chosen) return;
            if (chosen.value !== undefined) pending.push(chosen);
            out.header_forward = out.header_forward || {};
            out.header_forward.add_headers_from_secret = { ...out.header_forward.add_headers_from_secret, [hd.name]: chosen.key };
          });
        } else {
          const f = hd.choices && hd.choices.length
            ? field({ label: `Header ${hd.name}`, name: hd.name, kind: "select", value: hd.default || "", options: [["", "Not set"], ...hd.choices.map((c) => [c, c])], required: hd.required, help: hd.description })
            : field({ label: `Header ${hd.name}`, name: hd.name, value: hd.default || "", required: hd.required, help: hd.description, attrs: { autocomplete: "off" } });
          declared.push(f);
          collectors.push((out) => {
            const value = control(f).value;
            if (value) out.header_forward = { ...out.header_forward, add_plaintext_headers: { ...(out.header_forward || {}).add_plaintext_headers, [hd.name]: value } };
          });
        }
      }
    }
    const extra = rows({ legend: "Headers", help: "Added by the proxy to every request to the remote server.", addLabel: "Header", make: () => pairRow("Header name", "Header value") });
    if (declared.length) extra.el.querySelector("legend").after(...declared);
    if (custom) extra.el.dataset.remoteOnly = "";
    parts.push(extra.el);
    collectors.push((out) => {
      if (kindOf() !== "url") return;
      for (const item of extra.items) {
        item.markField("header_forward.add_plaintext_headers");
        const pair = item.collect();
        if (pair) out.header_forward = { ...out.header_forward, add_plaintext_headers: { ...(out.header_forward || {}).add_plaintext_headers, [pair[0]]: pair[1] } };
      }
    });
  }

  // Secrets → createRequest.secrets; new ones are created first.
  collectors.push((out, pending) => {
    if (kindOf() === "url") return;
    for (const s of secrets) {
      const chosen = s.chooser.collect();
      if (!chosen) continue;
      if (chosen.value !== undefined) pending.push(chosen);
      const target = s.target || s.targetInput.value.trim();
      out.secrets = [...(out.secrets || []), { name: chosen.key, target }];
    }
  });

  // Volumes and network: only for servers ToolHive runs.
  if (!remote) {
    const volumes = rows({ legend: "Volumes", help: "Host folders the server may use (mounted read-write unless read only).", addLabel: "Volume", make: volumeRow });
    volumes.el.dataset.localOnly = "";
    const network = networkSection(entry ? entry.permissions : { network: { outbound: { insecure_allow_all: true } } });
    network.el.dataset.localOnly = "";
    parts.push(volumes.el, network.el);
    collectors.push((out) => {
      if (kindOf() === "url") return;
      volumes.items.forEach((item, i) => item.markField(i));
      const list = volumes.items.map((item) => item.collect()).filter(Boolean);
      if (list.length) out.volumes = list;
      network.collect(out);
    });
  }

  // Tool filter: every tool the entry lists, all on; a partial choice becomes `tools`.
  if (entry && entry.tools && entry.tools.length) {
    const boxes = entry.tools.map((t) => field({ label: t, name: "tool", kind: "checkbox", value: true }));
    const setAll = (on) => { for (const b of boxes) control(b).checked = on; };
    const fs = h("fieldset", { "data-field": "tools", tabindex: "-1" }, h("legend", {}, "Tools"),
      h("p", { class: "help" }, "Clear a tool to hide it from clients."),
      entry.tools.length > 4
        ? h("p", { class: "actions" },
          h("button", { type: "button", class: "btn btn-small", onclick: () => setAll(true) }, "Select all tools"),
          h("button", { type: "button", class: "btn btn-small", onclick: () => setAll(false) }, "Clear all tools"))
        : null,
      h("div", { class: "install-tool-boxes" }, boxes));
    parts.push(fs);
    collectors.push((out) => {
      const chosen = entry.tools.filter((_, i) => control(boxes[i]).checked);
      if (!chosen.length) throw new ApiError(400, "Choose at least one tool (or all of them for no filter).", "tools");
      if (chosen.length < entry.tools.length) out.tools = chosen;
    });
  }

  const submit = h("button", { type: "submit", class: "btn btn-primary" }, "Install");
  const form = h("form", { class: "install-form", "aria-labelledby": "install-title", novalidate: false },
    h("h2", { id: "install-title" }, custom ? "What to install" : "Install"),
    top, parts, h("div", { class: "actions install-submit" }, submit));

  let unwatch = null;
  const stopWatching = () => {
    if (unwatch) unwatch();
    unwatch = null;
  };

  let answered = false; // the POST answered: the workload of that name is ours
  function follow(name) {
    stopWatching();
    let done = false;
    let off = null;
    let offSignIn = null;
    let latest = null;
    const finish = () => {
      done = true;
      if (off) off();
      if (offSignIn) offSignIn();
      progress.signIn();
      unwatch = null;
    };
    // A remote server that asks for a login: its "Sign in" link (lib/signin.js) under the progress.
    const offerSignIn = () => {
      if (!done && answered && latest) progress.signIn(...signInControls(latest, { small: false }));
    };
    offSignIn = watchSignIns(offerSignIn);
    off = watchWorkloads((state) => {
      const w = done ? null : state.workloads.get(name);
      if (!w) return;
      latest = w;
      const why = w.status_context ? `: ${w.status_context}` : "";
      // Before the answer, a workload of that name may be another one (the POST will say 409):
      // only its progress while starting is shown.
      if (!answered && w.status !== "starting") return;
      progress.say(`${name} is ${w.status}${why}`, w.status);
      if (!answered) return;
      offerSignIn();
      if (w.status === "running") {
        finish();
        toast(`${name} is running`, "ok");
        ctx.navigate("/");
      } else if (DONE_BAD.has(w.status)) {
        finish();
        submit.disabled = false;
        progress.links(
          h("a", { class: "btn", href: `/ui/servers/${seg(name)}/logs`, "data-nav": true }, `Logs of ${name}`),
          h("a", { class: "btn", href: "/", "data-nav": true }, "Servers"));
      }
    });
    if (done) off();
    else unwatch = () => {
      off();
      offSignIn();
    };
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form, top);
    const out = {};
    const pending = [];
    try {
      if (entry) {
        out.registry = "default";
        out.server = entry.name;
      }
      for (const collect of collectors) collect(out, pending);
    } catch (err) {
      showError(form, top, err);
      return;
    }
    submit.disabled = true;
    answered = false;
    try {
      for (const secret of pending) {
        progress.start(`Creating the secret ${secret.key}…`);
        try {
          await post("secrets/default/keys", { key: secret.key, value: secret.value });
        } catch (err) {
          progress.hide();
          showError(form, top, err, secret.chooser.nameInput);
          return;
        }
        secret.chooser.created(secret.key);
      }
      const what = out.image || out.url || out.server;
      progress.start(`Installing ${out.name || what}…`);
      if (out.name) follow(out.name);
      let created;
      try {
        created = await post("workloads", out);
      } catch (err) {
        stopWatching();
        progress.hide();
        showError(form, top, err);
        return;
      }
      answered = true;
      progress.say(`Created ${created.name} (port ${created.port}); waiting for it to run…`);
      progress.links(h("a", { class: "btn", href: "/", "data-nav": true }, "Go to the servers"));
      follow(created.name); // again: the snapshot it gets may already say running
    } finally {
      if (!unwatch) submit.disabled = false;
    }
  });

  const grid = h("div", { class: custom ? "install-layout install-layout-single" : "install-layout" },
    entry ? detail(entry, remote) : null,
    h("div", { class: "install-main" }, form, progress.el));
  body.replaceChildren(grid);
  body.removeAttribute("aria-busy");
  syncKind();
  if (store.error) top.append(errorBox(`Secrets: ${store.error.message}`));
  return stopWatching;
}

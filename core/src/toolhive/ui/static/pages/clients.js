// AI clients: every client ToolHive supports (GET discovery/clients: installed here? registered?)
// with the groups it is registered for (GET clients); register one for a group (POST clients) or
// unregister it from one (DELETE clients/{name}/groups/{group}). What the API answers is shown as
// it is — an error at the client's row.

import { del, get, post, seg } from "../lib/api.js";
import { clear, errorBox, h, newId, pageHeader, toast } from "../lib/dom.js";

export async function render(main, _params, ctx) {
  const root = h("div", { class: "clients", "aria-busy": "true" });
  const onlyInstalledId = newId("only-installed");
  const onlyInstalled = h("input", { id: onlyInstalledId, type: "checkbox", checked: true });
  main.append(
    pageHeader("Clients"),
    h("p", { class: "muted" },
      "Registering a client for a group writes that group's servers into the client's own configuration file; ToolHive keeps it up to date as servers come and go."),
    h("div", { class: "toolbar" },
      h("div", { class: "field field-check" }, onlyInstalled, h("label", { for: onlyInstalledId }, "Only clients installed here"))),
    root,
  );

  let discovered = [];
  let registered = new Map(); // client -> [groups]
  let groups = [];
  const rowErrors = new Map(); // client -> message of the API's last error
  let lastFocusKey = null;
  root.addEventListener("focusin", (event) => {
    lastFocusKey = event.target.dataset ? event.target.dataset.key || null : null;
  });

  async function reload() {
    const [disc, regs, groupList] = await Promise.all([
      get("discovery/clients", { signal: ctx.signal }),
      get("clients", { signal: ctx.signal }),
      get("groups", { signal: ctx.signal }),
    ]);
    discovered = disc.clients || [];
    registered = new Map((regs || []).map((c) => [c.name, c.groups || []]));
    groups = (groupList.groups || []).map((g) => g.name);
    draw();
  }

  function draw() {
    if (ctx.signal.aborted) return;
    // Where the keyboard was: in the table, or on nothing (a pressed button was disabled).
    const active = document.activeElement;
    const focusKey = active && root.contains(active) ? active.dataset.key
      : !active || active === document.body ? lastFocusKey : null;
    clear(root);
    const shown = discovered
      .filter((c) => !onlyInstalled.checked || c.installed || registered.has(c.client_type))
      .sort((a, b) => Number(b.installed) - Number(a.installed) || a.client_type.localeCompare(b.client_type));
    if (!shown.length) {
      root.append(h("div", { class: "empty" },
        onlyInstalled.checked
          ? "No supported AI client was found installed for this user. Clear “Only clients installed here” to register one anyway."
          : "No supported clients."));
      return;
    }
    root.append(h("div", { class: "table-wrap" },
      h("table", { class: "data stack clients-table" },
        h("thead", {}, h("tr", {}, ["Client", "Installed", "Registered for", "Register"].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, shown.map(clientRow)))));
    if (focusKey) {
      // The same control, or (it went away) the first control of the same client's row.
      const client = focusKey.split(":")[1];
      const again = root.querySelector(`[data-key="${CSS.escape(focusKey)}"]`)
        || root.querySelector(`tr[data-client="${CSS.escape(client || "")}"] :is(select, button)`);
      if (again) again.focus();
    }
  }

  function clientRow(c) {
    const name = c.client_type;
    const its = registered.get(name) || [];
    const available = groups.filter((g) => !its.includes(g));
    const selectId = newId("register-group");
    const select = h("select", { id: selectId, name: "group", dataset: { key: `group:${name}` } },
      available.map((g) => h("option", { value: g }, g)));
    const error = rowErrors.get(name);
    return h("tr", { dataset: { client: name } },
      h("th", { scope: "row", "data-label": "Client" }, name),
      h("td", { "data-label": "Installed" }, c.installed ? "yes" : h("span", { class: "muted" }, "no")),
      h("td", { "data-label": "Registered for" },
        its.length
          ? h("ul", { class: "client-groups" }, its.map((g) =>
            h("li", {}, h("span", { class: "tag" }, g),
              h("button", {
                type: "button",
                class: "btn btn-small",
                "aria-label": `Unregister ${name} from ${g}`,
                dataset: { key: `unregister:${name}:${g}` },
                onclick: (e) => unregister(e.currentTarget, name, g),
              }, "Unregister"))))
          : h("span", { class: "muted" }, "no group"),
        error ? errorBox(error) : null),
      h("td", { "data-label": "Register" },
        available.length
          ? h("form", { class: "register-form", onsubmit: (e) => register(e, name, select) },
            h("label", { for: selectId, class: "visually-hidden" }, `Group to register ${name} for`),
            select,
            h("button", { type: "submit", class: "btn btn-small", "aria-label": `Register ${name}`, dataset: { key: `register:${name}` } }, "Register"))
          : h("span", { class: "muted" }, "registered for every group")));
  }

  async function register(event, name, select) {
    event.preventDefault();
    const button = event.currentTarget.querySelector("button");
    const group = select.value;
    button.disabled = true;
    rowErrors.delete(name);
    try {
      const answer = await post("clients", { name, groups: [group] });
      const groupsNow = answer && answer.groups ? answer.groups.join(", ") : group;
      toast(`${name} registered for ${groupsNow}`, "ok");
    } catch (err) {
      rowErrors.set(name, `Register for ${group}: ${err.message}`);
    }
    await reload().catch((err) => toast(err.message, "error"));
  }

  async function unregister(button, name, group) {
    button.disabled = true;
    rowErrors.delete(name);
    try {
      await del(`clients/${seg(name)}/groups/${seg(group)}`);
      toast(`${name} unregistered from ${group}`, "ok");
    } catch (err) {
      rowErrors.set(name, `Unregister from ${group}: ${err.message}`);
    }
    await reload().catch((err) => toast(err.message, "error"));
  }

  onlyInstalled.addEventListener("change", draw);
  try {
    await reload();
  } catch (err) {
    if (!ctx.signal.aborted) root.append(errorBox(err));
  }
  root.removeAttribute("aria-busy");
}

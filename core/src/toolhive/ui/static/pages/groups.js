// Groups: each group with its servers (live from the event stream) and the AI clients registered
// for it; create one (the API checks the name: its 400 or 409 is shown at the field), remove one
// with or without its servers (without: they move to `default`, which cannot be removed).

import { ApiError, del, get, post, seg } from "../lib/api.js";
import { clear, confirmDialog, errorBox, h, newId, pageHeader, toast } from "../lib/dom.js";
import { watchWorkloads } from "../lib/events.js";

export async function render(main, _params, ctx) {
  const root = h("div", { class: "groups", "aria-busy": "true" });
  main.append(pageHeader("Groups"), root);

  let groups = []; // [{name, registered_clients}]
  const members = new Map(); // workload name -> group (list, then the stream)

  // --- create -----------------------------------------------------------------------------------
  const nameId = newId("group-name");
  const errorId = `${nameId}-error`;
  const nameInput = h("input", { id: nameId, name: "name", required: true, autocomplete: "off", "aria-describedby": `${nameId}-help` });
  const fieldError = h("p", { id: errorId, class: "field-error", hidden: true });
  const createButton = h("button", { type: "submit", class: "btn btn-primary" }, "Create group");
  const form = h("form", { class: "card group-create", novalidate: true },
    h("h2", {}, "New group"),
    h("div", { class: "field" },
      h("label", { for: nameId }, "Group name"),
      nameInput,
      h("p", { class: "help", id: `${nameId}-help` }, "1–100 lowercase letters, digits, _ or -; single spaces between words are allowed."),
      fieldError),
    createButton);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showFieldError("");
    createButton.disabled = true;
    try {
      const created = await post("groups", { name: nameInput.value.trim() });
      toast(`Group ${created && created.name ? created.name : nameInput.value.trim()} created`, "ok");
      nameInput.value = "";
      await reload();
      nameInput.focus(); // ready for the next one (the pressed button was disabled meanwhile)
    } catch (err) {
      showFieldError(err instanceof ApiError ? err.message : String(err));
      nameInput.focus();
    } finally {
      createButton.disabled = false;
    }
  });
  nameInput.addEventListener("input", () => showFieldError(""));

  function showFieldError(message) {
    fieldError.textContent = message;
    fieldError.hidden = !message;
    if (message) {
      nameInput.setAttribute("aria-invalid", "true");
      nameInput.setAttribute("aria-describedby", `${errorId} ${nameId}-help`);
    } else {
      nameInput.removeAttribute("aria-invalid");
      nameInput.setAttribute("aria-describedby", `${nameId}-help`);
    }
  }

  // --- list -------------------------------------------------------------------------------------
  const listSlot = h("div", { class: "section" });
  root.append(form, listSlot);

  async function reload() {
    const [groupList, workloads] = await Promise.all([
      get("groups", { signal: ctx.signal }),
      get("workloads?all=true", { signal: ctx.signal }),
    ]);
    groups = groupList.groups || [];
    members.clear();
    for (const w of workloads.workloads || []) members.set(w.name, w.group || "default");
    draw();
  }

  function draw() {
    if (ctx.signal.aborted) return;
    clear(listSlot);
    listSlot.append(h("h2", { id: "groups-list", tabindex: "-1" }, "Groups"));
    if (!groups.length) {
      listSlot.append(h("p", { class: "empty" }, "No groups."));
      return;
    }
    const rows = groups.map((g) => {
      const servers = [...members].filter(([, group]) => group === g.name).map(([name]) => name).sort();
      const clients = g.registered_clients || [];
      const actions = g.name === "default"
        ? h("span", { class: "muted" }, "Cannot be removed")
        : h("button", {
          type: "button",
          class: "btn btn-small btn-danger",
          "aria-label": `Remove group ${g.name}`,
          onclick: (e) => removeGroup(e.currentTarget, g.name, servers),
        }, "Remove");
      return h("tr", { dataset: { group: g.name } },
        h("th", { scope: "row", "data-label": "Group" }, g.name),
        h("td", { "data-label": "Servers" },
          servers.length
            ? servers.map((name) => h("a", { class: "tag", href: `/ui/servers/${seg(name)}/logs`, "data-nav": true }, name))
            : h("span", { class: "muted" }, "none")),
        h("td", { "data-label": "Clients" },
          clients.length ? clients.map((c) => h("span", { class: "tag" }, c)) : h("span", { class: "muted" }, "none"),
          " ",
          h("a", { href: "/ui/clients", "data-nav": true, class: "manage-clients", "aria-label": `Manage clients of ${g.name}` }, "Manage")),
        h("td", { "data-label": "Actions" }, actions));
    });
    listSlot.append(h("div", { class: "table-wrap" },
      h("table", { class: "data stack groups-table" },
        h("thead", {}, h("tr", {}, ["Group", "Servers", "Clients", "Actions"].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, rows))));
  }

  async function removeGroup(button, name, servers) {
    let withWorkloads = false;
    if (servers.length) {
      const choice = await removeChoice(name, servers);
      if (!choice) return;
      withWorkloads = choice === "with";
    } else if (!(await confirmDialog(`Remove the group ${name}?`, { confirm: "Remove", danger: true }))) {
      return;
    }
    button.disabled = true;
    try {
      await del(`groups/${seg(name)}${withWorkloads ? "?with-workloads=true" : ""}`);
      toast(withWorkloads ? `Group ${name} and its servers removed` : `Group ${name} removed`, "ok");
      await reload();
      // Its row (and the button) went away: the keyboard continues from the list's heading.
      const heading = listSlot.querySelector("#groups-list");
      if (heading) heading.focus();
    } catch (err) {
      toast(err.message, "error");
      button.disabled = false;
    }
  }

  /** "with" | "move" | null: what to do with the group's servers. */
  function removeChoice(name, servers) {
    return new Promise((resolve) => {
      const titleId = newId("rm-title");
      const dialog = h("dialog", { class: "dialog", "aria-labelledby": titleId },
        h("form", { method: "dialog" },
          h("h2", { id: titleId }, `Remove the group ${name}?`),
          h("p", {}, `It has ${servers.length} server${servers.length === 1 ? "" : "s"}: ${servers.join(", ")}.`),
          h("div", { class: "actions" },
            h("button", { value: "cancel", class: "btn" }, "Cancel"),
            h("button", { value: "move", class: "btn" }, "Remove, move servers to default"),
            h("button", { value: "with", class: "btn btn-danger" }, "Remove with its servers"))));
      dialog.addEventListener("close", () => {
        const v = dialog.returnValue;
        resolve(v === "with" || v === "move" ? v : null);
        dialog.remove();
      });
      document.body.append(dialog);
      dialog.showModal();
    });
  }

  try {
    await reload();
  } catch (err) {
    if (ctx.signal.aborted) return undefined;
    root.append(errorBox(err));
  }
  root.removeAttribute("aria-busy");

  // Servers join and leave groups elsewhere too: follow the stream.
  return watchWorkloads((state) => {
    if (!state.ready) return;
    const before = JSON.stringify([...members].sort());
    members.clear();
    for (const [name, w] of state.workloads) members.set(name, w.group || "default");
    if (JSON.stringify([...members].sort()) !== before) draw();
  });
}

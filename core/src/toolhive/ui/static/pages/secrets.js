// Secrets: the provider (set it up when there is none, or change it), what it can do, and its
// keys — create, update, delete. Values are write-only: the API never returns them, and a value
// typed here is cleared from the page once sent.

import { ApiError, del, get, post, put, seg } from "../lib/api.js";
import { confirmDialog, errorBox, field, h, newId, pageHeader, toast } from "../lib/dom.js";

const PROVIDERS = [
  ["encrypted", "Encrypted file (AES-256-GCM, protected by a password)"],
  ["environment", "Environment variables (read only: TOOLHIVE_SECRET_<NAME>)"],
  ["1password", "1Password (read only; needs a service account token)"],
  ["vault", "HashiCorp Vault (KV v2; configured with thv secret provider vault)"],
];

const CAPABILITIES = [
  ["can_read", "Read"],
  ["can_write", "Create and update"],
  ["can_delete", "Delete"],
  ["can_list", "List"],
  ["can_cleanup", "Clean up"],
];

const control = (wrapper) => wrapper.querySelector("input, select, textarea");

/** A message under `input` (aria-invalid + described by it), or cleared with null. */
function fieldError(input, message) {
  const box = input.closest(".field");
  const old = box.querySelector(".field-error");
  if (old) old.remove();
  const described = (input.getAttribute("aria-describedby") || "").split(" ").filter((id) => id && !id.startsWith("error-"));
  if (!message) {
    input.removeAttribute("aria-invalid");
    if (described.length) input.setAttribute("aria-describedby", described.join(" "));
    else input.removeAttribute("aria-describedby");
    return;
  }
  const id = newId("error");
  box.append(h("p", { class: "field-error", id }, message));
  input.setAttribute("aria-invalid", "true");
  input.setAttribute("aria-describedby", [...described, id].join(" "));
  input.focus();
}

/** Why a 405 happened, in words: the provider cannot do that. */
function cannot(type, what) {
  if (type === "environment") {
    return `The environment provider only reads secrets (TOOLHIVE_SECRET_<NAME> variables of the environment thv serve runs in); it cannot ${what}. Set the variables there, or switch to the encrypted provider.`;
  }
  return `The ${type} provider cannot ${what}.`;
}

function setupForm(current, onDone) {
  const provider = field({ label: "Provider", name: "provider_type", kind: "select", value: current || "encrypted", options: PROVIDERS });
  const password = field({ label: "Password", name: "password", kind: "password", required: true, help: "Protects the encrypted store. Kept in the OS keyring when there is one, else by this server while it runs; never shown again.", attrs: { autocomplete: "new-password" } });
  const select = control(provider);
  const sync = () => {
    password.hidden = select.value !== "encrypted";
    control(password).disabled = password.hidden;
  };
  select.addEventListener("change", sync);
  sync();
  const button = h("button", { type: "submit", class: "btn btn-primary" }, current ? "Change provider" : "Set up");
  const form = h("form", { class: "secrets-setup", "aria-labelledby": "setup-title" },
    h("h2", { id: "setup-title" }, current ? "Change the provider" : "Set up a secrets provider"),
    current ? h("p", { class: "help" }, "Secrets stay in the provider that holds them: changing the provider does not move them.") : null,
    provider, password, h("div", { class: "actions" }, button));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    fieldError(select, null);
    fieldError(control(password), null);
    button.disabled = true;
    try {
      const body = { provider_type: select.value };
      if (select.value === "encrypted") body.password = control(password).value;
      const answer = await post("secrets", body);
      control(password).value = "";
      toast(answer.message, "ok");
      onDone();
    } catch (err) {
      // A wrong password and an unknown or unusable provider are both 400s about the set-up.
      const target = select.value === "encrypted" && /password/i.test(err.message) ? control(password) : select;
      fieldError(target, err.message);
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

function updateDialog(key, type) {
  return new Promise((resolve) => {
    const value = field({ label: `New value of ${key}`, name: "value", kind: "password", required: true, attrs: { autocomplete: "new-password" } });
    const input = control(value);
    const save = h("button", { type: "submit", class: "btn btn-primary" }, "Save");
    const cancel = h("button", { type: "button", class: "btn" }, "Cancel");
    const form = h("form", {},
      h("h2", { id: "update-title" }, `Update ${key}`),
      h("p", { class: "help" }, "The current value is never shown; the new one replaces it."),
      value, h("div", { class: "actions" }, cancel, save));
    const dialog = h("dialog", { class: "dialog", "aria-labelledby": "update-title" }, form);
    let changed = false;
    cancel.addEventListener("click", () => dialog.close());
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      fieldError(input, null);
      save.disabled = true;
      try {
        await put(`secrets/default/keys/${seg(key)}`, { value: input.value });
        changed = true;
        input.value = "";
        dialog.close();
      } catch (err) {
        fieldError(input, err instanceof ApiError && err.status === 405 ? cannot(type, "change a value") : err.message);
      } finally {
        save.disabled = false;
      }
    });
    dialog.addEventListener("close", () => {
      input.value = "";
      dialog.remove();
      resolve(changed);
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

export async function render(main, _params, ctx) {
  main.append(pageHeader("Secrets"));
  const body = h("div", { "aria-busy": "true" }, h("p", { class: "muted" }, "Loading…"));
  main.append(body);

  async function load() {
    body.setAttribute("aria-busy", "true");
    let provider = null;
    try {
      provider = await get("secrets/default", { signal: ctx.signal });
    } catch (err) {
      if (ctx.signal.aborted) return;
      if (!(err instanceof ApiError && err.status === 404)) {
        body.replaceChildren(errorBox(err));
        body.removeAttribute("aria-busy");
        return;
      }
    }
    if (!provider) {
      body.replaceChildren(
        h("p", {}, "No secrets provider is set up yet. Servers that need API keys or tokens get them from one, by reference: the value never lands in a configuration file."),
        setupForm("", load));
      body.removeAttribute("aria-busy");
      return;
    }
    await showProvider(provider);
  }

  async function showProvider(provider) {
    const type = provider.provider_type;
    const caps = provider.capabilities;
    const status = h("section", { class: "card secrets-provider", "aria-labelledby": "provider-title" },
      h("h2", { id: "provider-title" }, "Provider"),
      h("p", {}, "In use: ", h("strong", { class: "secrets-type" }, type)),
      h("ul", { class: "secrets-caps", "aria-label": "What it can do" },
        CAPABILITIES.map(([key, label]) => h("li", { class: caps[key] ? "cap-yes" : "cap-no" }, `${label}: ${caps[key] ? "yes" : "no"}`))));
    const change = h("details", { class: "secrets-change" }, h("summary", {}, "Change the provider"), setupForm(type, load));

    const keysSection = h("section", { class: "secrets-keys", "aria-labelledby": "keys-title" }, h("h2", { id: "keys-title" }, "Secrets"));
    const listBox = h("div", {});
    keysSection.append(listBox);

    async function refresh() {
      let keys;
      try {
        keys = (await get("secrets/default/keys", { signal: ctx.signal })).keys;
      } catch (err) {
        if (ctx.signal.aborted) return;
        listBox.replaceChildren(err instanceof ApiError && err.status === 405
          ? h("p", { class: "empty" }, cannot(type, "list its secrets"))
          : errorBox(err));
        return;
      }
      if (!keys.length) {
        listBox.replaceChildren(h("p", { class: "empty" }, "No secrets yet."));
        return;
      }
      listBox.replaceChildren(h("div", { class: "table-wrap" }, h("table", { class: "data stack" },
        h("caption", { class: "visually-hidden" }, "Secrets (values are never shown)"),
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Key"), h("th", { scope: "col" }, "Description"), h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")))),
        h("tbody", {}, keys.map((k) => {
          const update = h("button", { type: "button", class: "btn btn-small", "aria-label": `Update ${k.key}` }, "Update");
          const remove = h("button", { type: "button", class: "btn btn-small btn-danger", "aria-label": `Delete ${k.key}` }, "Delete");
          update.disabled = !caps.can_write;
          remove.disabled = !caps.can_delete;
          update.addEventListener("click", async () => {
            if (await updateDialog(k.key, type)) toast(`${k.key} updated`, "ok");
            update.focus();
          });
          remove.addEventListener("click", async () => {
            if (!(await confirmDialog(`Delete the secret ${k.key}? Servers that use it will not start until it is set again.`, { confirm: "Delete", danger: true }))) return;
            try {
              await del(`secrets/default/keys/${seg(k.key)}`);
              toast(`${k.key} deleted`, "ok");
              await refresh();
              keysSection.querySelector("h2").focus();
            } catch (err) {
              toast(err instanceof ApiError && err.status === 405 ? cannot(type, "delete secrets") : err.message, "error");
            }
          });
          return h("tr", {},
            h("th", { scope: "row", "data-label": "Key" }, h("code", {}, k.key)),
            h("td", { "data-label": "Description" }, k.description || ""),
            h("td", {}, h("div", { class: "actions secrets-row-actions" }, update, remove)));
        })))));
    }

    keysSection.querySelector("h2").setAttribute("tabindex", "-1");
    if (caps.can_write) {
      const key = field({ label: "Key", name: "key", required: true, attrs: { autocomplete: "off", spellcheck: "false" } });
      const value = field({ label: "Value", name: "value", kind: "password", required: true, attrs: { autocomplete: "new-password", "aria-describedby": "value-help" } });
      const create = h("button", { type: "submit", class: "btn btn-primary" }, "Create");
      const form = h("form", { class: "secrets-create", "aria-labelledby": "create-title" },
        h("h3", { id: "create-title" }, "New secret"), h("div", { class: "toolbar" }, key, value, create),
        h("p", { class: "help", id: "value-help" }, "Values are write-only: once sent, no page and no API answer shows them again."));
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        fieldError(control(key), null);
        create.disabled = true;
        try {
          const answer = await post("secrets/default/keys", { key: control(key).value.trim(), value: control(value).value });
          control(value).value = "";
          control(key).value = "";
          toast(`${answer.key} created`, "ok");
          await refresh();
        } catch (err) {
          fieldError(control(key), err instanceof ApiError && err.status === 405 ? cannot(type, "create secrets") : err.message);
        } finally {
          create.disabled = false;
        }
      });
      keysSection.append(form);
    } else {
      keysSection.append(h("p", { class: "help" }, cannot(type, "create or change secrets")));
    }
    await refresh();
    if (ctx.signal.aborted) return;
    body.replaceChildren(status, keysSection, change);
    body.removeAttribute("aria-busy");
  }

  await load();
  return undefined;
}

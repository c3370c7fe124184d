// Small DOM helpers: every view builds its elements with h(); text is always set as text (never
// innerHTML), so names, descriptions and log lines from servers cannot inject markup.

/** h("button", {class: "x", onclick: fn, "aria-label": "…"}, "text", child…) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "value" && "value" in el) el.value = value;
    else if (key === "checked" || key === "selected" || key === "disabled" || key === "hidden") el[key] = Boolean(value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

let uid = 0;
/** A unique id for label/field pairs. */
export function newId(prefix = "f") {
  uid += 1;
  return `${prefix}-${uid}`;
}

/** Page heading + optional actions; sets the document title and moves focus for screen readers. */
export function pageHeader(title, ...actions) {
  document.title = `${title} · ToolHive`;
  return h("div", { class: "page-header" }, h("h1", { tabindex: "-1" }, title), actions.length ? h("div", { class: "actions" }, actions) : null);
}

/** A labelled form field. kind: input type, "select" (options: [[value,label]]), "textarea", "checkbox". */
export function field({ label, name, kind = "text", value = "", help = "", required = false, options = [], placeholder = "", attrs = {} }) {
  const id = newId(name || "f");
  const helpId = help ? `${id}-help` : undefined;
  let control;
  if (kind === "select") {
    control = h("select", { id, name, required, "aria-describedby": helpId, ...attrs },
      options.map(([v, l]) => h("option", { value: v, selected: String(v) === String(value) }, l)));
  } else if (kind === "textarea") {
    control = h("textarea", { id, name, required, placeholder, "aria-describedby": helpId, ...attrs });
    control.value = value;
  } else if (kind === "checkbox") {
    control = h("input", { id, name, type: "checkbox", checked: Boolean(value), "aria-describedby": helpId, ...attrs });
    return h("div", { class: "field field-check" }, control, h("label", { for: id }, label), help ? h("p", { class: "help", id: helpId }, help) : null);
  } else {
    control = h("input", { id, name, type: kind, value, required, placeholder, "aria-describedby": helpId, ...attrs });
  }
  return h("div", { class: "field" }, h("label", { for: id }, label, required ? h("span", { class: "req", "aria-hidden": "true" }, " *") : null), control, help ? h("p", { class: "help", id: helpId }, help) : null);
}

/** A transient message in the live region (announced by screen readers). kind: info | error | ok */
export function toast(message, kind = "info") {
  const box = document.getElementById("toasts");
  const item = h("div", { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : null }, message);
  box.append(item);
  setTimeout(() => item.remove(), kind === "error" ? 10000 : 4000);
}

/** An inline error block for a failed load (role=alert). */
export function errorBox(err) {
  return h("div", { class: "error-box", role: "alert" }, err && err.message ? err.message : String(err));
}

/** A modal confirm built on <dialog>; resolves true/false. */
export function confirmDialog(message, { confirm = "Confirm", danger = false } = {}) {
  return new Promise((resolve) => {
    const dialog = h("dialog", { class: "dialog", "aria-labelledby": "confirm-msg" },
      h("form", { method: "dialog" },
        h("p", { id: "confirm-msg" }, message),
        h("div", { class: "actions" },
          h("button", { value: "cancel", class: "btn" }, "Cancel"),
          h("button", { value: "ok", class: danger ? "btn btn-danger" : "btn btn-primary" }, confirm))));
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "ok");
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** A button that copies `text` and says so. */
export function copyButton(text, label = "Copy") {
  const btn = h("button", { type: "button", class: "btn btn-small", "aria-label": `${label}: ${text}` }, label);
  btn.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(text);
      toast("Copied to the clipboard", "ok");
    } catch {
      // No clipboard permission (plain http on a non-loopback host): select the text instead.
      window.prompt("Copy this:", text);
    }
  });
  return btn;
}

const STATUS_CLASS = {
  running: "ok", starting: "busy", stopping: "busy", removing: "busy", auth_retrying: "busy",
  stopped: "idle", unknown: "idle", error: "bad", unhealthy: "bad", unauthenticated: "bad", policy_stopped: "bad",
};

/** A status pill; the words carry the meaning, colour only repeats it. */
export function statusBadge(status) {
  return h("span", { class: `status status-${STATUS_CLASS[status] || "idle"}`, dataset: { status } }, status);
}

/** Run an async action with the button disabled; errors become toasts. */
export async function busy(button, action) {
  if (button) button.disabled = true;
  try {
    return await action();
  } catch (err) {
    toast(err.message || String(err), "error");
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}

/** Bytes/lines download of `text` as a file. */
export function download(filename, text, type = "text/plain") {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h("a", { href: url, download: filename, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

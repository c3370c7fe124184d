// The shell: client-side routing between views, the theme switch, and sign-in with a token.
// Each view is a module in pages/ exporting render(main, params, ctx) -> optional cleanup.

import { setToken } from "./lib/api.js";
import { clear, errorBox, h } from "./lib/dom.js";

// [pattern, module, section]; the first match wins. Params are the decoded groups.
const ROUTES = [
  [/^\/$/, "servers", "servers"],
  [/^\/ui\/?$/, "servers", "servers"],
  [/^\/ui\/servers\/([^/]+)\/logs$/, "logs", "servers"],
  [/^\/ui\/servers\/([^/]+)\/playground$/, "playground", "servers"],
  [/^\/ui\/servers\/([^/]+)\/tools$/, "tools", "servers"],
  [/^\/ui\/install\/?$/, "install", "install"],
  [/^\/ui\/install\/custom$/, "install-form", "install"],
  [/^\/ui\/install\/server\/(.+)$/, "install-form", "install"],
  [/^\/ui\/groups\/?$/, "groups", "groups"],
  [/^\/ui\/clients\/?$/, "clients", "clients"],
  [/^\/ui\/secrets\/?$/, "secrets", "secrets"],
];

const main = document.getElementById("main");
let leave = null; // the current view's cleanup

function match(pathname) {
  for (const [pattern, module, section] of ROUTES) {
    const m = pattern.exec(pathname);
    if (m) return { module, section, params: m.slice(1).map(decodeURIComponent) };
  }
  return null;
}

async function show(url, { focus = true } = {}) {
  if (leave) {
    try {
      leave();
    } catch (err) {
      console.error(err);
    }
    leave = null;
  }
  const route = match(url.pathname);
  for (const link of document.querySelectorAll("nav a[data-section]")) {
    if (route && link.dataset.section === route.section) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  clear(main);
  if (!route) {
    document.title = "Not found · ToolHive";
    main.append(h("h1", {}, "Not found"), h("p", {}, "No such page. ", h("a", { href: "/", "data-nav": true }, "Back to the servers")));
    return;
  }
  const controller = new AbortController();
  const ctx = { navigate, signal: controller.signal, query: url.searchParams };
  let cleanup = null;
  leave = () => {
    controller.abort();
    if (typeof cleanup === "function") cleanup();
  };
  try {
    const view = await import(`./pages/${route.module}.js`);
    if (controller.signal.aborted) return;
    cleanup = await view.render(main, route.params, ctx);
  } catch (err) {
    if (controller.signal.aborted) return;
    console.error(err);
    main.append(errorBox(err));
  }
  if (focus) {
    const heading = main.querySelector("h1");
    if (heading) heading.focus({ preventScroll: true });
  }
}

/** Go to a UI path without a page load (history entry added unless replace). */
export function navigate(path, { replace = false } = {}) {
  const url = new URL(path, location.origin);
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  show(url);
}

document.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-nav]");
  if (!link || event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const url = new URL(link.href, location.origin);
  if (url.origin !== location.origin) return;
  event.preventDefault();
  navigate(url.pathname + url.search);
});
window.addEventListener("popstate", () => show(new URL(location.href), { focus: false }));

// Theme: system (default) → light → dark, remembered in this browser.
const THEMES = ["system", "light", "dark"];
const themeButton = document.getElementById("theme-toggle");
function applyTheme(theme) {
  if (theme === "system") document.documentElement.removeAttribute("data-theme");
  else document.documentElement.dataset.theme = theme;
  themeButton.setAttribute("aria-label", `Colour theme: ${theme}`);
  themeButton.title = `Colour theme: ${theme} (click to change)`;
}
applyTheme(localStorage.getItem("toolhive.theme") || "system");
themeButton.addEventListener("click", () => {
  const current = localStorage.getItem("toolhive.theme") || "system";
  const next = THEMES[(THEMES.indexOf(current) + 1) % THEMES.length];
  localStorage.setItem("toolhive.theme", next);
  applyTheme(next);
});

// thv serve with --oidc-issuer: the API answers 401 until the tab has a bearer token.
let asking = false;
window.addEventListener("toolhive:unauthorized", () => {
  if (asking) return;
  asking = true;
  const input = h("input", { id: "token-input", type: "password", autocomplete: "off", required: true });
  const dialog = h("dialog", { class: "dialog", "aria-labelledby": "token-title" },
    h("form", { method: "dialog" },
      h("h2", { id: "token-title" }, "Sign in"),
      h("p", {}, "This ToolHive server requires an OIDC access token. Paste one issued for it; it is kept for this tab only."),
      h("div", { class: "field" }, h("label", { for: "token-input" }, "Access token"), input),
      h("div", { class: "actions" }, h("button", { class: "btn", value: "cancel", formnovalidate: true }, "Cancel"), h("button", { class: "btn btn-primary", value: "ok" }, "Sign in"))));
  dialog.addEventListener("close", () => {
    asking = false;
    if (dialog.returnValue === "ok" && input.value.trim()) {
      setToken(input.value.trim());
      location.reload();
    }
    dialog.remove();
  });
  document.body.append(dialog);
  dialog.showModal();
});

show(new URL(location.href));

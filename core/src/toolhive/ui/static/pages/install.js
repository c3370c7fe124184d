// Install: the registry's servers as cards, searched and filtered in the browser (the registry
// is one GET, a few dozen entries), each linking to its detail and install form.

import { get } from "../lib/api.js";
import { errorBox, field, h, pageHeader } from "../lib/dom.js";

const ALL = "";

/** The link to an entry's detail page; the name's "/" stays a path separator. */
export function serverPath(name) {
  return `/ui/install/server/${name.split("/").map(encodeURIComponent).join("/")}`;
}

function shortName(entry) {
  return entry.name.split("/").pop();
}

function haystack(entry) {
  return [entry.name, entry.title, entry.description, ...(entry.tags || []), ...(entry.tools || [])]
    .join("\n")
    .toLowerCase();
}

function card(entry, suffix) {
  const stars = entry.metadata && entry.metadata.stars ? entry.metadata.stars : 0;
  const title = entry.title || shortName(entry);
  return h("li", { class: "card install-card" },
    h("h2", { class: "install-card-title" }, h("a", { href: serverPath(entry.name) + suffix, "data-nav": true }, title)),
    h("p", { class: "muted mono install-card-name" }, entry.name),
    h("p", { class: "install-card-desc" }, entry.description || "No description."),
    h("p", { class: "install-card-meta" },
      entry.tier ? h("span", { class: "tag tag-tier" }, entry.tier) : null,
      h("span", { class: "tag" }, entry.remote ? "remote" : "local"),
      h("span", { class: "tag" }, entry.transport),
      stars ? h("span", { class: "tag", "aria-label": `${stars} stars` }, `★ ${stars}`) : null),
    entry.tags && entry.tags.length
      ? h("p", { class: "install-card-tags" }, h("span", { class: "visually-hidden" }, "Tags: "), entry.tags.map((t) => h("span", { class: "tag tag-plain" }, t)))
      : null);
}

function options(values, allLabel) {
  return [[ALL, allLabel], ...[...new Set(values)].filter(Boolean).sort((a, b) => a.localeCompare(b)).map((v) => [v, v])];
}

export async function render(main, _params, ctx) {
  const group = ctx.query.get("group");
  const custom = `/ui/install/custom${group ? `?group=${encodeURIComponent(group)}` : ""}`;
  main.append(pageHeader("Install", h("a", { class: "btn", href: custom, "data-nav": true }, "Custom server")));
  const body = h("div", { "aria-busy": "true" }, h("p", { class: "muted" }, "Loading the registry…"));
  main.append(body);
  let answer;
  try {
    answer = await get("registry/default/servers", { signal: ctx.signal });
  } catch (err) {
    if (ctx.signal.aborted) return undefined;
    body.replaceChildren(errorBox(err));
    body.removeAttribute("aria-busy");
    return undefined;
  }
  const entries = [
    ...answer.servers.map((s) => ({ ...s, remote: false })),
    ...answer.remote_servers.map((s) => ({ ...s, remote: true })),
  ].sort((a, b) => (a.title || shortName(a)).localeCompare(b.title || shortName(b)));
  for (const e of entries) e.text = haystack(e);

  const q = ctx.query;
  const search = field({ label: "Search", name: "q", kind: "search", value: q.get("q") || "", placeholder: "name, description, tag or tool", attrs: { autocomplete: "off" } });
  const transport = field({ label: "Transport", name: "transport", kind: "select", value: q.get("transport") || ALL, options: options(entries.map((e) => e.transport), "Any transport") });
  const tier = field({ label: "Tier", name: "tier", kind: "select", value: q.get("tier") || ALL, options: options(entries.map((e) => e.tier), "Any tier") });
  const kind = field({ label: "Runs", name: "kind", kind: "select", value: q.get("kind") || ALL, options: [[ALL, "Local or remote"], ["local", "Local (run by ToolHive)"], ["remote", "Remote (a URL)"]] });
  const tag = field({ label: "Tag", name: "tag", kind: "select", value: q.get("tag") || ALL, options: options(entries.flatMap((e) => e.tags || []), "Any tag") });
  const controls = { q: search, transport, tier, kind, tag };
  const value = (name) => controls[name].querySelector("input, select").value;

  const count = h("p", { class: "install-count", role: "status", "aria-live": "polite" });
  const list = h("ul", { class: "cards install-cards", "aria-label": "Registry servers" });
  const empty = h("p", { class: "empty", hidden: true }, "No server matches. Clear the search or the filters, or install a ", h("a", { href: "/ui/install/custom", "data-nav": true }, "custom server"), ".");
  // ?group=NAME (a link from a group) is passed on: the form preselects that group.
  const suffix = group ? `?group=${encodeURIComponent(group)}` : "";
  const cards = new Map(entries.map((e) => [e.name, card(e, suffix)]));

  function apply() {
    const words = value("q").trim().toLowerCase().split(/\s+/).filter(Boolean);
    const want = { transport: value("transport"), tier: value("tier"), kind: value("kind"), tag: value("tag") };
    const shown = entries.filter((e) =>
      words.every((w) => e.text.includes(w))
      && (!want.transport || e.transport === want.transport)
      && (!want.tier || e.tier === want.tier)
      && (!want.kind || (want.kind === "remote") === e.remote)
      && (!want.tag || (e.tags || []).includes(want.tag)));
    list.replaceChildren(...shown.map((e) => cards.get(e.name)));
    empty.hidden = shown.length > 0;
    const total = entries.length;
    count.textContent = shown.length === total
      ? `${total} server${total === 1 ? "" : "s"}`
      : `${shown.length} of ${total} servers match`;
    // The filters live in the address, so going back from a server's page restores them.
    const url = new URL(location.href);
    for (const name of Object.keys(controls)) {
      if (value(name)) url.searchParams.set(name, value(name));
      else url.searchParams.delete(name);
    }
    history.replaceState(history.state, "", url);
  }

  let timer = 0;
  search.querySelector("input").addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(apply, 200);
  });
  for (const name of ["transport", "tier", "kind", "tag"]) controls[name].querySelector("select").addEventListener("change", apply);

  const filters = h("form", { class: "toolbar install-filters", role: "search", onsubmit: (event) => { event.preventDefault(); clearTimeout(timer); apply(); } },
    search, transport, tier, kind, tag);
  body.replaceChildren(filters, count, list, empty);
  body.removeAttribute("aria-busy");
  apply();
  return () => clearTimeout(timer);
}

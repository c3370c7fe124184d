// Playground of one running workload: its tools, resources and prompts as its clients see them
// (thv serve speaks MCP to the workload's proxy: GET workloads/{name}/mcp/capabilities, POST
// …/mcp/tools/call, …/resources/read, …/prompts/get). A tool's form is generated from its
// inputSchema; results show text, pretty JSON, images, the error flag and the timing, with the raw
// JSON in a <details>. Everything from the server is set as text (never HTML).

import { ApiError, get, post, seg } from "../lib/api.js";
import { busy, clear, errorBox, field, h, newId, pageHeader, statusBadge } from "../lib/dom.js";
import { watchWorkloads } from "../lib/events.js";
import { signInControls, watchSignIns } from "../lib/signin.js";

const TABS = [
  ["tools", "Tools"],
  ["resources", "Resources"],
  ["prompts", "Prompts"],
];

export async function render(main, params, ctx) {
  const name = params[0];
  const base = `workloads/${seg(name)}/mcp`;
  const root = h("div", { class: "playground", "aria-busy": "true" });
  main.append(
    pageHeader(`Playground: ${name}`,
      h("a", { href: "/", "data-nav": true, class: "btn" }, "All servers"),
      h("a", { href: `/ui/servers/${seg(name)}/tools`, "data-nav": true, class: "btn" }, "Customize tools"),
      h("a", { href: `/ui/servers/${seg(name)}/logs`, "data-nav": true, class: "btn" }, "Logs")),
    root,
  );

  let waitingToRun = false; // the workload is not running: load again once it is
  let lastStatus = "";
  let lastView = null;
  // A remote server waiting for its login (or refused): its sign-in, in the not-running card.
  const signInSlot = h("p", { class: "pg-signin", hidden: true });
  function showSignIn() {
    const active = document.activeElement;
    const focused = signInSlot.contains(active) ? active.dataset.key : null;
    const controls = waitingToRun && lastView ? signInControls(lastView, { small: false }) : [];
    signInSlot.replaceChildren(...controls);
    signInSlot.hidden = controls.length === 0;
    const again = focused && signInSlot.querySelector(`[data-key="${CSS.escape(focused)}"]`);
    if (again) again.focus();
  }
  const unwatchSignIns = watchSignIns(showSignIn);
  const unsubscribe = watchWorkloads((state) => {
    const w = state.workloads.get(name);
    lastView = w || null;
    showSignIn();
    const status = w ? w.status : "";
    if (status === lastStatus) return;
    lastStatus = status;
    if (waitingToRun && status === "running") load();
  });

  async function load() {
    waitingToRun = false;
    root.setAttribute("aria-busy", "true");
    clear(root);
    root.append(h("p", { class: "muted" }, "Asking the server what it offers…"));
    let caps;
    try {
      caps = await get(`${base}/capabilities`, { signal: ctx.signal });
    } catch (err) {
      if (ctx.signal.aborted) return;
      clear(root);
      showProblem(err);
      root.removeAttribute("aria-busy");
      return;
    }
    if (ctx.signal.aborted) return;
    clear(root);
    showCapabilities(caps);
    root.removeAttribute("aria-busy");
  }

  function showProblem(err) {
    if (err instanceof ApiError && err.status === 409) {
      waitingToRun = true;
      const w = lastStatus ? statusBadge(lastStatus) : null;
      root.append(h("div", { class: "card pg-not-running" },
        h("h2", {}, "The server is not running"),
        h("p", {}, "The playground talks to ", h("strong", {}, name), " through its proxy, so it must be running. ",
          w ? ["Its status: ", w, ". "] : null,
          "Start it on the servers page; this page loads by itself once it runs."),
        signInSlot,
        h("p", {}, h("a", { href: "/", "data-nav": true }, "Back to the servers"))));
      showSignIn();
      return;
    }
    if (err instanceof ApiError && err.status === 404) {
      root.append(errorBox(err), h("p", {}, h("a", { href: "/", "data-nav": true }, "Back to the servers")));
      return;
    }
    const again = h("button", { type: "button", class: "btn" }, "Try again");
    again.addEventListener("click", () => load());
    root.append(h("h2", {}, "The server did not answer"), errorBox(err), h("div", { class: "actions" }, again));
  }

  function showCapabilities(caps) {
    const info = caps.server_info || {};
    const about = [info.title || info.name, info.version ? `version ${info.version}` : "", caps.protocol_version ? `MCP ${caps.protocol_version}` : ""]
      .filter(Boolean).join(" · ");
    root.append(h("p", { class: "muted pg-about" }, about || "The server did not name itself."));
    if (caps.instructions) {
      root.append(h("details", { class: "pg-instructions" }, h("summary", {}, "The server's instructions for clients"), h("p", { class: "pg-text" }, caps.instructions)));
    }

    const counts = {
      tools: caps.tools.length,
      resources: caps.resources.length + caps.resource_templates.length,
      prompts: caps.prompts.length,
    };
    const wanted = ctx.query.get("tab");
    let current = TABS.some(([v]) => v === wanted) ? wanted : "tools";
    const panels = {};
    const tabs = TABS.map(([value, label]) => {
      const panelId = newId(`pg-${value}`);
      panels[value] = h("div", { id: panelId, role: "tabpanel", "aria-labelledby": `pg-tab-${value}`, class: "pg-panel", tabindex: "-1" });
      return h("button", {
        type: "button",
        role: "tab",
        id: `pg-tab-${value}`,
        "aria-controls": panelId,
        onclick: () => select(value),
      }, `${label} (${counts[value]})`);
    });
    const tablist = h("div", { class: "tabs", role: "tablist", "aria-label": "What the server offers" }, tabs);
    tablist.addEventListener("keydown", (event) => {
      const i = TABS.findIndex(([v]) => v === current);
      let next = null;
      if (event.key === "ArrowRight") next = (i + 1) % TABS.length;
      else if (event.key === "ArrowLeft") next = (i + TABS.length - 1) % TABS.length;
      else if (event.key === "Home") next = 0;
      else if (event.key === "End") next = TABS.length - 1;
      if (next === null) return;
      event.preventDefault();
      select(TABS[next][0]);
      tabs[next].focus();
    });
    root.append(tablist, ...Object.values(panels));

    function select(value) {
      current = value;
      TABS.forEach(([v], i) => {
        tabs[i].setAttribute("aria-selected", String(v === value));
        tabs[i].tabIndex = v === value ? 0 : -1;
        panels[v].hidden = v !== value;
      });
    }
    select(current);

    toolsPanel(panels.tools, caps.tools);
    resourcesPanel(panels.resources, caps.resources, caps.resource_templates);
    promptsPanel(panels.prompts, caps.prompts);
  }

  // --- tools -------------------------------------------------------------------------------------

  function toolsPanel(panel, tools) {
    if (!tools.length) {
      panel.append(h("p", { class: "empty" }, "This server offers no tools (or its tool filter hides them all)."));
      return;
    }
    const detail = h("div", { class: "pg-detail" });
    const buttons = [];
    const list = h("ul", { class: "pg-list", "aria-label": "Tools" },
      tools.map((tool) => {
        const button = h("button", { type: "button", class: "pg-item", "aria-pressed": "false" },
          h("span", { class: "pg-item-name" }, tool.name),
          tool.title && tool.title !== tool.name ? h("span", { class: "muted pg-item-title" }, tool.title) : null);
        button.addEventListener("click", () => choose(tool, button));
        buttons.push(button);
        return h("li", {}, button);
      }));
    panel.append(h("div", { class: "pg-split" }, list, detail));

    function choose(tool, button) {
      for (const b of buttons) b.setAttribute("aria-pressed", String(b === button));
      clear(detail);
      detail.append(toolDetail(tool));
    }
    const wanted = ctx.query.get("tool");
    const first = Math.max(0, tools.findIndex((t) => t.name === wanted));
    choose(tools[first], buttons[first]);
  }

  function toolDetail(tool) {
    const annotations = tool.annotations || {};
    const hints = [
      [annotations.readOnlyHint, "read-only"],
      [annotations.destructiveHint, "destructive"],
      [annotations.idempotentHint, "idempotent"],
      [annotations.openWorldHint, "open world"],
    ].filter(([on]) => on === true).map(([, label]) => h("span", { class: "tag" }, label));
    const form = schemaForm(tool.inputSchema || {});
    const callButton = h("button", { type: "submit", class: "btn btn-primary" }, "Call");
    const output = h("div", { class: "pg-output", "aria-live": "polite" });
    const element = h("form", { class: "card pg-tool", novalidate: true, "aria-label": tool.name },
      h("h2", {}, tool.title && tool.title !== tool.name ? `${tool.title} (${tool.name})` : tool.name),
      hints.length ? h("p", {}, hints) : null,
      tool.description ? h("p", { class: "pg-text" }, tool.description) : h("p", { class: "muted" }, "No description."),
      form.fields.length ? h("fieldset", {}, h("legend", {}, "Arguments"), form.fields) : h("p", { class: "muted" }, "This tool takes no arguments."),
      h("div", { class: "actions" }, callButton),
      output);
    element.addEventListener("submit", (event) => {
      event.preventDefault();
      const args = form.read();
      if (!args) return;
      busy(callButton, async () => {
        clear(output);
        output.append(h("p", { class: "muted" }, `Calling ${tool.name}…`));
        try {
          const answer = await post(`${base}/tools/call`, { name: tool.name, arguments: args }, { signal: ctx.signal });
          clear(output);
          output.append(toolResult(answer));
        } catch (err) {
          if (ctx.signal.aborted) return;
          clear(output);
          output.append(errorBox(err));
        }
      });
    });
    return element;
  }

  // --- resources ---------------------------------------------------------------------------------

  function resourcesPanel(panel, resources, templates) {
    if (!resources.length && !templates.length) {
      panel.append(h("p", { class: "empty" }, "This server offers no resources."));
      return;
    }
    const output = h("div", { class: "pg-output", "aria-live": "polite" });
    async function read(uri, button) {
      await busy(button, async () => {
        clear(output);
        output.append(h("p", { class: "muted" }, `Reading ${uri}…`));
        try {
          const answer = await post(`${base}/resources/read`, { uri }, { signal: ctx.signal });
          clear(output);
          output.append(resourceResult(uri, answer));
        } catch (err) {
          if (ctx.signal.aborted) return;
          clear(output);
          output.append(errorBox(err));
        }
      });
    }
    if (resources.length) {
      panel.append(h("h2", {}, "Resources"), h("div", { class: "table-wrap" }, h("table", { class: "data stack" },
        h("thead", {}, h("tr", {},
          h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "URI"), h("th", { scope: "col" }, "Type"),
          h("th", { scope: "col" }, "Description"), h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")))),
        h("tbody", {}, resources.map((r) => {
          const button = h("button", { type: "button", class: "btn btn-small", "aria-label": `Read ${r.name}` }, "Read");
          button.addEventListener("click", () => read(r.uri, button));
          return h("tr", {},
            h("td", { "data-label": "Name" }, r.title || r.name),
            h("td", { "data-label": "URI", class: "mono pg-break" }, r.uri),
            h("td", { "data-label": "Type" }, r.mimeType || ""),
            h("td", { "data-label": "Description" }, r.description || ""),
            h("td", {}, button));
        })))));
    }
    if (templates.length) {
      panel.append(h("h2", {}, "Resource templates"));
      for (const t of templates) {
        const variables = [...new Set([...t.uriTemplate.matchAll(/\{[+#./;?&]?([^}]+)\}/g)].flatMap((m) => m[1].split(",")).map((v) => v.replace(/\*$|:\d+$/, "")))];
        const inputs = variables.map((v) => field({ label: v, name: v, required: true }));
        const button = h("button", { type: "submit", class: "btn" }, "Read");
        const form = h("form", { class: "card pg-template", novalidate: true, "aria-label": t.title || t.name },
          h("h3", {}, t.title || t.name), h("p", { class: "mono pg-break" }, t.uriTemplate),
          t.description ? h("p", { class: "pg-text" }, t.description) : null,
          inputs, h("div", { class: "actions" }, button));
        form.addEventListener("submit", (event) => {
          event.preventDefault();
          const values = {};
          let ok = true;
          for (const wrapper of inputs) {
            const input = wrapper.querySelector("input");
            input.setAttribute("aria-invalid", String(!input.value));
            if (!input.value && ok) {
              input.focus();
              ok = false;
            }
            values[input.name] = input.value;
          }
          if (ok) read(expandTemplate(t.uriTemplate, values), button);
        });
        panel.append(form);
      }
    }
    panel.append(output);
  }

  // --- prompts -----------------------------------------------------------------------------------

  function promptsPanel(panel, prompts) {
    if (!prompts.length) {
      panel.append(h("p", { class: "empty" }, "This server offers no prompts."));
      return;
    }
    for (const prompt of prompts) {
      const inputs = (prompt.arguments || []).map((a) =>
        field({ label: a.name, name: a.name, required: Boolean(a.required), help: a.description || "" }));
      const button = h("button", { type: "submit", class: "btn" }, "Get prompt");
      const output = h("div", { class: "pg-output", "aria-live": "polite" });
      const form = h("form", { class: "card pg-prompt", novalidate: true, "aria-label": prompt.name },
        h("h2", {}, prompt.title || prompt.name),
        prompt.description ? h("p", { class: "pg-text" }, prompt.description) : null,
        inputs.length ? h("fieldset", {}, h("legend", {}, "Arguments"), inputs) : h("p", { class: "muted" }, "No arguments."),
        h("div", { class: "actions" }, button),
        output);
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        const args = {};
        let ok = true;
        for (const wrapper of inputs) {
          const input = wrapper.querySelector("input");
          const missing = input.required && !input.value;
          input.setAttribute("aria-invalid", String(missing));
          if (missing && ok) {
            input.focus();
            ok = false;
          }
          if (input.value) args[input.name] = input.value;
        }
        if (!ok) return;
        busy(button, async () => {
          clear(output);
          try {
            const answer = await post(`${base}/prompts/get`, { name: prompt.name, arguments: args }, { signal: ctx.signal });
            clear(output);
            output.append(promptResult(answer));
          } catch (err) {
            if (ctx.signal.aborted) return;
            clear(output);
            output.append(errorBox(err));
          }
        });
      });
      panel.append(form);
    }
  }

  await load();
  return () => {
    unsubscribe();
    unwatchSignIns();
  };
}

// --- a form from a JSON Schema ---------------------------------------------------------------------

/** The schema `s` with a local $ref resolved and a nullable anyOf/oneOf reduced to its other branch. */
function resolve(s, root, depth = 0) {
  if (!s || typeof s !== "object" || depth > 8) return s || {};
  if (typeof s.$ref === "string" && s.$ref.startsWith("#/")) {
    let target = root;
    for (const part of s.$ref.slice(2).split("/")) target = target && target[part.replace(/~1/g, "/").replace(/~0/g, "~")];
    const { $ref, ...rest } = s;
    return resolve({ ...(target || {}), ...rest }, root, depth + 1);
  }
  for (const key of ["anyOf", "oneOf"]) {
    if (Array.isArray(s[key])) {
      const branches = s[key].filter((b) => !(b && b.type === "null"));
      if (branches.length === 1) {
        const { [key]: _, ...rest } = s;
        return resolve({ ...branches[0], ...rest }, root, depth + 1);
      }
    }
  }
  if (Array.isArray(s.type)) {
    const types = s.type.filter((t) => t !== "null");
    if (types.length === 1) return { ...s, type: types[0] };
  }
  return s;
}

function kindOf(s) {
  if (Array.isArray(s.enum) && s.enum.length) return "enum";
  if (s.type === "string") return "string";
  if (s.type === "integer" || s.type === "number") return s.type;
  if (s.type === "boolean") return "boolean";
  if (s.type === "array") {
    const items = s.items || {};
    if (items.type === "string" && !items.enum) return "strings";
    if (items.type === "integer" || items.type === "number") return "numbers";
  }
  return "json"; // objects, arrays of anything else, unions: JSON text
}

/**
 * The fields for an object schema's properties and `read()`, which gives the arguments object (only
 * what was filled in; defaults are pre-filled) or null after marking what is wrong.
 */
export function schemaForm(schema) {
  const root = schema;
  const top = resolve(schema, root);
  const required = new Set(Array.isArray(top.required) ? top.required : []);
  const props = top.properties && typeof top.properties === "object" ? top.properties : {};
  const readers = [];
  const fields = [];
  for (const [prop, raw] of Object.entries(props)) {
    const s = resolve(raw, root);
    const kind = kindOf(s);
    const isRequired = required.has(prop);
    const hasDefault = Object.prototype.hasOwnProperty.call(s, "default") && s.default !== null;
    const helpParts = [s.description || (raw && raw.description) || ""];
    let wrapper;
    let control;
    let readOne; // () => {set, value} | {set: false} | {error}
    if (kind === "boolean" && (isRequired || hasDefault)) {
      wrapper = field({ label: prop, name: prop, kind: "checkbox", value: hasDefault ? Boolean(s.default) : false, help: helpParts.join(" ") });
      control = wrapper.querySelector("input");
      readOne = (() => ({ set: true, value: control.checked }));
    } else if (kind === "boolean" || kind === "enum") {
      const values = kind === "boolean" ? [true, false] : s.enum;
      const options = [["", isRequired ? "Choose…" : "(not set)"], ...values.map((v, i) => [String(i), typeof v === "string" ? v : JSON.stringify(v)])];
      const chosen = hasDefault ? values.findIndex((v) => JSON.stringify(v) === JSON.stringify(s.default)) : -1;
      wrapper = field({ label: prop, name: prop, kind: "select", options, value: chosen >= 0 ? String(chosen) : "", required: isRequired, help: helpParts.join(" ") });
      control = wrapper.querySelector("select");
      readOne = (() => (control.value === "" ? { set: false } : { set: true, value: values[Number(control.value)] }));
    } else if (kind === "string" || kind === "integer" || kind === "number") {
      const numeric = kind !== "string";
      const attrs = { autocomplete: "off" };
      if (numeric) {
        attrs.step = kind === "integer" ? "1" : "any";
        if (typeof s.minimum === "number") attrs.min = String(s.minimum);
        if (typeof s.maximum === "number") attrs.max = String(s.maximum);
        attrs.inputmode = kind === "integer" ? "numeric" : "decimal";
      } else {
        if (typeof s.maxLength === "number") attrs.maxlength = String(s.maxLength);
        if (s.format) helpParts.push(`Format: ${s.format}.`);
      }
      const example = Array.isArray(s.examples) && s.examples.length ? String(s.examples[0]) : "";
      wrapper = field({ label: prop, name: prop, kind: numeric ? "number" : "text", value: hasDefault ? String(s.default) : "", required: isRequired, placeholder: example, help: helpParts.filter(Boolean).join(" "), attrs });
      control = wrapper.querySelector("input");
      readOne = (() => {
        if (control.value === "") return { set: false };
        if (!numeric) return { set: true, value: control.value };
        const n = Number(control.value);
        if (!Number.isFinite(n) || (kind === "integer" && !Number.isInteger(n))) return { error: `${prop}: enter ${kind === "integer" ? "a whole number" : "a number"}` };
        return { set: true, value: n };
      });
    } else if (kind === "strings" || kind === "numbers") {
      helpParts.push("One value per line.");
      const initial = hasDefault && Array.isArray(s.default) ? s.default.join("\n") : "";
      wrapper = field({ label: prop, name: prop, kind: "textarea", value: initial, required: isRequired, help: helpParts.filter(Boolean).join(" "), attrs: { rows: "3" } });
      control = wrapper.querySelector("textarea");
      readOne = (() => {
        const lines = control.value.split("\n").map((l) => l.trim()).filter(Boolean);
        if (!lines.length) return { set: false };
        if (kind === "strings") return { set: true, value: lines };
        const numbers = lines.map(Number);
        if (numbers.some((n) => !Number.isFinite(n))) return { error: `${prop}: every line must be a number` };
        return { set: true, value: numbers };
      });
    } else {
      helpParts.push(s.type === "object" ? "A JSON object." : "JSON.");
      const initial = hasDefault ? JSON.stringify(s.default, null, 2) : "";
      wrapper = field({ label: prop, name: prop, kind: "textarea", value: initial, required: isRequired, help: helpParts.filter(Boolean).join(" "), attrs: { rows: "4", class: "mono", spellcheck: "false" } });
      control = wrapper.querySelector("textarea");
      readOne = (() => {
        if (!control.value.trim()) return { set: false };
        try {
          return { set: true, value: JSON.parse(control.value) };
        } catch (err) {
          return { error: `${prop}: not valid JSON (${err.message})` };
        }
      });
    }
    const problem = h("p", { class: "field-error", id: newId("err"), hidden: true });
    wrapper.append(problem);
    fields.push(wrapper);
    readers.push({ prop, control, problem, isRequired, readOne });
  }

  function read() {
    const args = {};
    let firstBad = null;
    for (const { prop, control, problem, isRequired, readOne } of readers) {
      let outcome = readOne();
      if (!outcome.error && !outcome.set && isRequired) outcome = { error: `${prop} is required` };
      const bad = Boolean(outcome.error);
      control.setAttribute("aria-invalid", String(bad));
      problem.hidden = !bad;
      problem.textContent = bad ? outcome.error : "";
      const described = (control.getAttribute("aria-describedby") || "").split(" ").filter((id) => id && id !== problem.id);
      if (bad) described.push(problem.id);
      if (described.length) control.setAttribute("aria-describedby", described.join(" "));
      if (bad && !firstBad) firstBad = control;
      if (outcome.set) args[prop] = outcome.value;
    }
    if (firstBad) {
      firstBad.focus();
      return null;
    }
    return args;
  }

  return { fields, read };
}

function expandTemplate(template, values) {
  return template.replace(/\{([+#./;?&]?)([^}]+)\}/g, (_, op, names) =>
    names.split(",").map((n) => {
      const v = values[n.replace(/\*$|:\d+$/, "")] || "";
      return op === "+" || op === "#" ? encodeURI(v) : encodeURIComponent(v);
    }).join(","));
}

// --- results ---------------------------------------------------------------------------------------

function pretty(value) {
  return h("pre", { class: "pg-json", tabindex: "0" }, JSON.stringify(value, null, 2));
}

/** Text that is a JSON object or array is shown pretty; anything else as it came. */
function textBlock(text) {
  const trimmed = (text || "").trim();
  if (/^[[{]/.test(trimmed)) {
    try {
      return pretty(JSON.parse(trimmed));
    } catch {
      // not JSON after all
    }
  }
  return h("pre", { class: "pg-plain", tabindex: "0" }, text || "");
}

function byteSize(base64) {
  const n = Math.floor(((base64 || "").length * 3) / 4);
  return n < 1024 ? `${n} bytes` : `${(n / 1024).toFixed(1)} KiB`;
}

function contentItem(item, who) {
  switch (item.type) {
    case "text":
      return textBlock(item.text);
    case "image":
      return h("figure", { class: "pg-figure" },
        h("img", { src: `data:${item.mimeType || "image/png"};base64,${item.data}`, alt: `Image returned by the ${who} (${item.mimeType || "image"})` }),
        h("figcaption", { class: "muted" }, `${item.mimeType || "image"}, ${byteSize(item.data)}`));
    case "audio":
      return h("p", { class: "muted" }, `Audio (${item.mimeType || "unknown type"}, ${byteSize(item.data)}) — not played here.`);
    case "resource": {
      const r = item.resource || {};
      return h("div", { class: "pg-embedded" },
        h("p", { class: "mono pg-break" }, `Resource ${r.uri || ""}${r.mimeType ? ` (${r.mimeType})` : ""}`),
        typeof r.text === "string" ? textBlock(r.text) : h("p", { class: "muted" }, `Binary, ${byteSize(r.blob)}`));
    }
    case "resource_link":
      return h("p", {}, "Resource link: ", h("span", { class: "mono pg-break" }, item.uri || ""), item.name ? ` (${item.name})` : "");
    default:
      return pretty(item);
  }
}

function timing(ms) {
  return ms < 1000 ? `${ms.toFixed(1)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

function resultHeader(title, ms, isError) {
  return h("div", { class: "pg-result-head" },
    h("h3", {}, title),
    isError === undefined ? null : h("span", { class: `status ${isError ? "status-bad" : "status-ok"}` }, isError ? "Error" : "OK"),
    h("span", { class: "muted pg-timing" }, `Took ${timing(ms)}`));
}

function raw(answer) {
  return h("details", { class: "pg-raw" }, h("summary", {}, "Raw JSON"), pretty(answer.result));
}

function toolResult(answer) {
  const result = answer.result || {};
  const isError = Boolean(result.isError);
  const structured = result.structuredContent === undefined ? undefined : JSON.stringify(result.structuredContent);
  // Servers repeat structured output as JSON text for older clients: shown once, as structured.
  const content = (Array.isArray(result.content) ? result.content : []).filter((item) => !(structured !== undefined && item.type === "text" && sameJson(item.text, structured)));
  const box = h("section", { class: `pg-result${isError ? " pg-result-error" : ""}`, "aria-label": "Result" },
    resultHeader(isError ? "The tool reported an error" : "Result", answer.duration_ms, isError));
  if (content.length) box.append(...content.map((item) => contentItem(item, "tool")));
  if (result.structuredContent !== undefined) box.append(h("h4", {}, "Structured content"), pretty(result.structuredContent));
  if (!content.length && result.structuredContent === undefined) box.append(h("p", { class: "muted" }, "The tool returned nothing."));
  box.append(raw(answer));
  return box;
}

function sameJson(text, json) {
  try {
    return JSON.stringify(JSON.parse(text)) === json;
  } catch {
    return false;
  }
}

function resourceResult(uri, answer) {
  const contents = (answer.result && answer.result.contents) || [];
  const box = h("section", { class: "pg-result", "aria-label": "Resource contents" }, resultHeader(uri, answer.duration_ms));
  for (const c of contents) {
    box.append(h("p", { class: "muted mono pg-break" }, `${c.uri || uri}${c.mimeType ? ` · ${c.mimeType}` : ""}`));
    if (typeof c.text === "string") box.append(textBlock(c.text));
    else if (typeof c.blob === "string" && (c.mimeType || "").startsWith("image/")) box.append(contentItem({ type: "image", data: c.blob, mimeType: c.mimeType }, "server"));
    else box.append(h("p", { class: "muted" }, `Binary, ${byteSize(c.blob)}`));
  }
  if (!contents.length) box.append(h("p", { class: "muted" }, "The resource is empty."));
  box.append(raw(answer));
  return box;
}

function promptResult(answer) {
  const result = answer.result || {};
  const messages = Array.isArray(result.messages) ? result.messages : [];
  const box = h("section", { class: "pg-result", "aria-label": "Prompt messages" },
    resultHeader(result.description || "Messages", answer.duration_ms));
  for (const m of messages) {
    box.append(h("div", { class: "pg-message" }, h("span", { class: "tag" }, m.role), contentItem(m.content || {}, "prompt")));
  }
  box.append(raw(answer));
  return box;
}

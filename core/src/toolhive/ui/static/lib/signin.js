// Remote MCP servers behind OAuth, for every view that shows a workload's status.
//
// thv serve opens no browser: a remote workload whose server asks for a login is `starting`,
// its status context "waiting for sign-in to <URL>" (on the event stream), and
// GET …/workloads/{name}/auth gives the authorization URL. It is offered as a "Sign in" LINK
// (new tab): the URL arrives asynchronously, and a browser only opens a tab from the user's own
// click. The login's callback is on thv serve's loopback, so the browser must be on that machine.
// An `unauthenticated` workload (its stored login was refused) offers "Sign in again": a restart,
// which starts a new sign-in whose URL is polled for the same way. The row itself changes through
// the event stream (status-context changes are on it), so /auth is only read while a URL is
// awaited, once a second.

import { get, post, seg } from "./api.js";
import { h, toast } from "./dom.js";
import { watchWorkloads } from "./events.js";

const WAITING = /^waiting for sign-in\b/;
const POLL_MS = 1000;
/** How long "Sign in again" waits for the restart to offer a login (the refresh is tried first). */
const AGAIN_TIMEOUT_MS = 120000;
/** Where a restart that signs in again ends when it fails (it passes through `stopped`). */
const FAILED = new Set(["unauthenticated", "error", "unhealthy"]);

const urls = new Map(); // name -> {url, seen}: the sign-in waiting now; seen: the stream said so
const polls = new Map(); // name -> {again, left, since, timer}
const listeners = new Set();
let live = new Map(); // name -> the event stream's latest view
let watching = false;

/** Whether the workload (a list row, a stream view or an /auth answer) waits for its user's login. */
export function waitsForSignIn(w) {
  return Boolean(w) && w.status === "starting" && WAITING.test(w.status_context || "");
}

function notify() {
  for (const fn of listeners) {
    try {
      fn();
    } catch (err) {
      console.error(err);
    }
  }
}

function stopPoll(name) {
  const poll = polls.get(name);
  if (poll) clearTimeout(poll.timer);
  polls.delete(name);
}

function poll(name, again = false) {
  const current = polls.get(name);
  if (current) {
    if (again) Object.assign(current, { again: true, left: false, since: Date.now() });
    return;
  }
  const entry = { again, left: false, since: Date.now(), timer: null };
  polls.set(name, entry);
  tick(name, entry);
}

async function tick(name, entry) {
  let body = null;
  try {
    body = await get(`workloads/${seg(name)}/auth`);
  } catch (err) {
    if (polls.get(name) !== entry) return;
    if (err.status === 404) {
      stopPoll(name);
      urls.delete(name);
      notify();
      return;
    }
  }
  if (polls.get(name) !== entry) return; // replaced or stopped meanwhile
  if (body && body.authorization_url) {
    urls.set(name, { url: body.authorization_url, seen: waitsForSignIn(live.get(name)) });
    stopPoll(name);
    notify();
    return;
  }
  let done = false;
  if (entry.again) {
    // After "Sign in again": the restart first leaves `unauthenticated`; then it runs (the stored
    // login worked after all), offers a login (above), or fails again.
    if (body && body.status !== "unauthenticated") entry.left = true;
    done = Boolean(body) && (body.status === "running" || (entry.left && FAILED.has(body.status)));
  } else {
    done = Boolean(body) && !waitsForSignIn(body);
  }
  if (done || Date.now() - entry.since > AGAIN_TIMEOUT_MS) {
    stopPoll(name);
    notify();
    return;
  }
  entry.timer = setTimeout(() => tick(name, entry), POLL_MS);
}

function onStream(state) {
  if (!state.ready) return;
  live = state.workloads;
  let changed = false;
  for (const [name, entry] of [...urls]) {
    const w = live.get(name);
    if (waitsForSignIn(w)) {
      entry.seen = true;
    } else if (!w || w.status !== "starting" || entry.seen) {
      // The login ended (or the workload went): its URL is no use any more. (The URL is
      // written a moment before the status context says so: a URL the stream has not yet
      // announced stays while the workload is starting.)
      urls.delete(name);
      changed = true;
    }
  }
  for (const [name, w] of live) {
    if (waitsForSignIn(w) && !urls.has(name)) poll(name);
  }
  if (changed) notify();
}

/** Call fn() whenever a sign-in link appears or goes; returns the unsubscribe function. */
export function watchSignIns(fn) {
  listeners.add(fn);
  if (!watching) {
    watching = true;
    watchWorkloads(onStream); // for the tab's life, like the stream itself
  }
  return () => listeners.delete(fn);
}

/** The authorization URL offered for `name` now, or "". */
export function signInUrl(name) {
  return (urls.get(name) || {}).url || "";
}

/** "Sign in again": restart the workload (which signs in again), then wait for its login URL. */
export async function signInAgain(name) {
  urls.delete(name);
  stopPoll(name);
  // Marked before the request: the stream may report the restart before its 202 arrives, and
  // the row must keep a sign-in control (and the keyboard) throughout.
  const entry = { again: true, left: false, since: Date.now(), timer: null };
  polls.set(name, entry);
  notify();
  try {
    await post(`workloads/${seg(name)}/restart`);
  } catch (err) {
    if (polls.get(name) === entry) polls.delete(name);
    notify();
    throw err;
  }
  if (polls.get(name) === entry) tick(name, entry);
}

/**
 * The controls for a workload's sign-in, for an actions area: a "Sign in" link while a login
 * waits, "Sign in again" when it is unauthenticated, a placeholder while a URL is awaited;
 * [] otherwise. Each carries data-key "signin:<name>", so focus follows from one to the next.
 */
export function signInControls(w, { small = true } = {}) {
  const name = w.name;
  const key = `signin:${name}`;
  const size = small ? " btn-small" : "";
  const url = signInUrl(name);
  if (url) {
    return [h("a", {
      class: `btn btn-primary${size} signin-link`,
      href: url,
      target: "_blank",
      rel: "noopener noreferrer",
      dataset: { key },
    }, "Sign in", h("span", { class: "visually-hidden" }, ` to ${name} (opens in a new tab)`))];
  }
  const again = polls.get(name);
  if ((again && again.again) || waitsForSignIn(w)) {
    // aria-disabled keeps it focusable: the keyboard stays here until the link replaces it.
    return [h("button", {
      type: "button",
      class: `btn${size} signin-pending`,
      "aria-disabled": "true",
      dataset: { key },
    }, "Preparing sign-in…", h("span", { class: "visually-hidden" }, ` for ${name}`))];
  }
  if (w.status === "unauthenticated") {
    return [h("button", {
      type: "button",
      class: `btn btn-primary${size}`,
      "aria-label": `Sign in again to ${name}`,
      dataset: { key },
      onclick: async () => {
        // The button is replaced at once by a placeholder (same data-key: focus stays there).
        try {
          await signInAgain(name);
          toast(`Signing in again to ${name}: a Sign in link follows`, "info");
        } catch (err) {
          toast(err.message, "error");
        }
      },
    }, "Sign in again")];
  }
  return [];
}

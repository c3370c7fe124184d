// Live workload status for every view: one /api/v1beta/events stream per tab (no polling).
// The stream opens with a snapshot of every workload, then `ready`, then one event per change;
// after a reconnect the next snapshot replaces what we knew.

import { BASE } from "./api.js";
import { followSSE } from "./sse.js";

const state = {
  workloads: new Map(), // name -> latest event data {name, status, previous, status_context, group, url, time}
  ready: false,
  connection: "connecting", // connecting | live | reconnecting | unauthorized
};
const listeners = new Set();
let started = false;
let fresh = false; // the next snapshot replaces the map

function notify(change) {
  for (const fn of listeners) {
    try {
      fn(state, change);
    } catch (err) {
      console.error(err);
    }
  }
}

function start() {
  started = true;
  const controller = new AbortController();
  followSSE(`${BASE}/events`, {
    signal: controller.signal,
    onState(connection) {
      state.connection = connection;
      if (connection === "live") fresh = true;
      notify(null);
    },
    onEvent({ event, data }) {
      if (event === "ready") {
        if (fresh) {
          // An empty snapshot: everything we knew is gone.
          state.workloads.clear();
          fresh = false;
        }
        state.ready = true;
        notify(null);
        return;
      }
      if (event !== "workload" || !data || !data.name) return;
      if (fresh) {
        state.workloads.clear();
        fresh = false;
      }
      if (data.status === "removed") state.workloads.delete(data.name);
      else state.workloads.set(data.name, data);
      notify(data);
    },
  });
}

/** Call fn(state, change) now (if ready) and on every change; returns the unsubscribe function. */
export function watchWorkloads(fn) {
  listeners.add(fn);
  if (!started) start();
  else if (state.ready) fn(state, null);
  return () => listeners.delete(fn);
}

export function connectionState() {
  return state.connection;
}

// The console's data module: every read the page makes, through the REST routes with the tenant's key.
// The views never build a URL themselves: when a route changes, this is the one file to follow.

import * as view from "./view.js";

const KEY = "session-engine.console.key";
const PAGE = 1000; // asked; the server caps it at [limits].history_page_limit

export class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

export const auth = {
  get key() { return sessionStorage.getItem(KEY); },
  set key(value) { value === null ? sessionStorage.removeItem(KEY) : sessionStorage.setItem(KEY, value); },
};

async function get(path, params = {}) {
  const url = new URL(path, location.origin);
  for (const [name, value] of Object.entries(params)) {
    for (const one of [].concat(value)) if (one !== null && one !== undefined && one !== "") url.searchParams.append(name, one);
  }
  const response = await fetch(url, { headers: { Authorization: `Bearer ${auth.key}` }, cache: "no-store" });
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const error = body && typeof body.error === "object" && body.error ? body.error : {};
    throw new ApiError(response.status, error.code, error.message || `HTTP ${response.status}`);
  }
  return body;
}

// A session in another BlobHub revision than the tenant's own is listed as `<revision> U+001F <session>`.
function streamParams(stream) {
  const cut = stream.indexOf("\u001f");
  return cut < 0 ? { id: stream } : { id: stream.slice(cut + 1), revision_id: stream.slice(0, cut) };
}
const sessionPath = (id) => `/api/sessions/${encodeURIComponent(id)}`;

/** One page of the namespace's sessions, newest activity first (only those whose id starts with
 * `prefix`, when given: the server searches): {sessions, next_after}. */
export function listSessions(after = null, limit = 50, prefix = "") {
  return get("/api/sessions", { after, limit, prefix });
}

/** One page of a session's history from a version (events with the engine's one-line summary,
 * without their data): {entries, next_version}. */
export function historyPage(stream, fromVersion = 1, types = null) {
  const { id, revision_id } = streamParams(stream);
  return get(`${sessionPath(id)}/history`, { from_version: fromVersion, limit: PAGE, type: types, revision_id });
}

/** One page of a session's events from a version: {events, next_version}. */
export function eventsPage(stream, fromVersion = 1, types = null) {
  const { id, revision_id } = streamParams(stream);
  return get(`${sessionPath(id)}/events`, { from_version: fromVersion, limit: PAGE, type: types, revision_id });
}

/** The session's typed state as of a version, or as of an instant (`at`, ISO 8601 with a zone). */
export function stateAt(stream, { version = null, at = null }) {
  const { id, revision_id } = streamParams(stream);
  return get(`${sessionPath(id)}/state`, { version, at, revision_id });
}

/** What changed between two versions (the engine's exact diff): rows `[kind, path, before, after]`. */
export async function diff(stream, a, b) {
  const { id, revision_id } = streamParams(stream);
  return view.engineDiffRows(await get(`${sessionPath(id)}/diff`, { a, b, revision_id }));
}

/** The log's hash chain, recomputed by the server now: {intact, head, head_hash, broken_at, reason}. */
export function chain() {
  return get("/api/chain");
}

/** Every event of a session as JSON Lines (one event per line, version order). */
export async function exportJsonl(stream) {
  const lines = [];
  let version = 1;
  while (version !== null) {
    const page = await eventsPage(stream, version);
    for (const e of page.events) lines.push(JSON.stringify(e));
    version = page.next_version;
  }
  return lines.length ? lines.join("\n") + "\n" : "";
}

/**
 * Follow a session's events after a log position (`/console/live`): `onEvent(event)` per new event
 * (with its `summary`, as a history entry has it),
 * `onStatus(text)` on changes. Reconnects after a drop from the last position seen. Returns stop().
 */
export function follow(stream, after, onEvent, onStatus) {
  return live(stream, after, (frame) => frame.event && { position: frame.event.position, item: { ...frame.event, summary: frame.summary } }, onEvent, onStatus);
}

/** Follow the namespace's sessions as they change after a log position: `onSession(session)` per
 * event, the session as the sessions list shows it. Returns stop(). */
export function followSessions(after, onSession, onStatus) {
  return live(null, after, (frame) => frame.session && { position: frame.session.last_position, item: frame.session }, onSession, onStatus);
}

// One `/console/live` socket: `read(frame)` picks {position, item} out of a data frame.
function live(stream, after, read, onItem, onStatus) {
  let socket = null, stopped = false, last = after, retry = null;
  const open = () => {
    socket = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/console/live`);
    socket.onopen = () => socket.send(JSON.stringify({ api_key: auth.key, session_id: stream, after: last }));
    socket.onmessage = (message) => {
      const frame = JSON.parse(message.data);
      if (frame.following) { onStatus("following"); return; }
      const got = read(frame);
      if (got && got.position > last) { last = got.position; onItem(got.item); }
    };
    socket.onclose = (closed) => {
      if (stopped) return;
      if (closed.code === 4401 || closed.code === 4400) { onStatus(`refused: ${closed.reason}`); return; }
      onStatus("reconnecting");
      retry = setTimeout(open, 1000);
    };
  };
  open();
  return () => { stopped = true; clearTimeout(retry); if (socket) socket.close(1000); };
}

// The console's controller: sign-in, the sessions list, the timeline of the open session, its state
// at the selected event, diffs, the live follow and the export. Reads only (see data.js).
import * as data from "./data.js";
import * as view from "./view.js";

const $ = (id) => document.getElementById(id);
const SESSIONS_PAGE = 50;

const open = {
  stream: null, events: [], rows: [], byVersion: new Map(), selected: -1, token: 0,
  types: null, knownTypes: new Set(), stopFollow: null, complete: false,
};
let sessionsAfter = null, loadedSessions = [], sessionsPrefix = "", stopSessionsFollow = null, searchTimer = null;

// -- sign-in --------------------------------------------------------------------------------
function showSignin(message = "") {
  $("app").hidden = true; $("signout").hidden = true; $("signin").hidden = false;
  $("signin-error").textContent = message; $("api-key").focus();
}

function showApp() {
  $("signin").hidden = true; $("app").hidden = false; $("signout").hidden = false;
  $("tenant").textContent = "signed in (read-only)";
}

// A key typed in is checked before the app shows; a key kept from before (a reload, a link) opens
// the linked session at once, beside the sessions list (a refusal of either signs out).
async function signIn(key, kept = false) {
  data.auth.key = key;
  sessionsPrefix = $("session-search").value.trim();
  const listing = data.listSessions(null, SESSIONS_PAGE, sessionsPrefix);
  if (kept) { showApp(); routeFromHash(); }
  try {
    const page = await listing;
    renderSessions(page, true);
    if (!kept) { showApp(); routeFromHash(); }
    followSessions(page);
  } catch (error) {
    signOut(error.status === 401 ? `That API key was refused: ${error.message}.` : `The server could not be read: ${error.message}`);
  }
}

function signOut(message = "") {
  data.auth.key = null; closeSession();
  if (stopSessionsFollow) { stopSessionsFollow(); stopSessionsFollow = null; }
  showSignin(message);
}

function refused(error) {
  if (error && error.status === 401) { signOut(`Your API key was refused: ${error.message}.`); return true; }
  return false;
}

// -- sessions -------------------------------------------------------------------------------
function sessionItem(s) {
  const li = view.el("li", { "data-session": s.session_id, class: s.session_id === open.stream ? "open" : null },
    view.el("div", { class: "id", text: s.session_id.replace("\u001f", " / ") }),
    view.el("div", { class: "meta", text: `v${s.version} · ${s.last_type} · ${view.time(s.last_recorded_at)}` }));
  li.addEventListener("click", () => openSession(s.session_id));
  return li;
}

function renderSessions(page, reset) {
  if (reset) { loadedSessions = []; $("sessions").replaceChildren(); }
  loadedSessions.push(...page.sessions);
  sessionsAfter = page.next_after;
  for (const s of page.sessions) $("sessions").append(sessionItem(s));
  $("sessions-more").hidden = sessionsAfter === null;
  $("sessions-note").textContent = loadedSessions.length ? ""
    : sessionsPrefix ? `No session id starts with "${sessionsPrefix}".` : "No sessions in this namespace yet.";
}

async function moreSessions() {
  const prefix = sessionsPrefix;
  try {
    const page = await data.listSessions(sessionsAfter, SESSIONS_PAGE, prefix);
    if (prefix === sessionsPrefix) renderSessions(page, false);
  } catch (error) { refused(error); }
}

// The search box asks the server (ids starting with what is typed), a moment after typing stops.
async function searchSessions() {
  const prefix = $("session-search").value.trim();
  if (prefix === sessionsPrefix) return;
  sessionsPrefix = prefix;
  try {
    const page = await data.listSessions(null, SESSIONS_PAGE, prefix);
    if (prefix === sessionsPrefix) renderSessions(page, true);
  } catch (error) { refused(error); }
}

// The list follows the namespace from its newest event: a session that changes moves to the top.
function followSessions(page) {
  if (stopSessionsFollow) stopSessionsFollow();
  const after = page.sessions.length && !sessionsPrefix ? page.sessions[0].last_position : 0;
  const start = (from) => data.followSessions(from, (s) => {
    if (sessionsPrefix && !s.session_id.startsWith(sessionsPrefix)) return;
    loadedSessions = [s, ...loadedSessions.filter((o) => o.session_id !== s.session_id)];
    for (const li of $("sessions").querySelectorAll("li")) if (li.dataset.session === s.session_id) li.remove();
    const li = sessionItem(s);
    li.classList.add("fresh");
    $("sessions").prepend(li);
    $("sessions-note").textContent = "";
  }, (status) => { $("sessions-live").textContent = status === "following" ? "live" : status; });
  if (after || !sessionsPrefix) { stopSessionsFollow = start(after); return; }
  // Signed in with a search typed (a reload): follow from the namespace's newest event.
  data.listSessions(null, 1).then((newest) => {
    if (data.auth.key) stopSessionsFollow = start(newest.sessions.length ? newest.sessions[0].last_position : 0);
  }).catch(refused);
}

// -- timeline -------------------------------------------------------------------------------
function closeSession() {
  if (open.stopFollow) open.stopFollow();
  Object.assign(open, { stream: null, events: [], rows: [], byVersion: new Map(), selected: -1, stopFollow: null, complete: false });
  open.token++;
}

async function openSession(stream, { version = null, types = null } = {}) {
  const keepTypes = stream === open.stream;
  closeSession();
  open.stream = stream; open.types = types;
  if (!keepTypes) { open.knownTypes = new Set(); $("type-filter").replaceChildren(view.el("option", { value: "", text: "all types" })); }
  const token = open.token;
  history.replaceState(null, "", `#s=${encodeURIComponent(stream)}`);
  for (const li of $("sessions").children) li.classList.toggle("open", li.dataset.session === stream);
  $("session-title").textContent = stream.replace("\u001f", " / ");
  $("timeline").replaceChildren(); $("detail").replaceChildren(view.el("p", { class: "muted", text: "Click an event to see the session as of it." }));
  $("timeline-note").textContent = "loading…"; $("export").disabled = false; $("live-status").textContent = "";
  $("chain-verify").disabled = false; $("chain").textContent = ""; $("chain").className = "";
  let from = 1, size = null;
  try {
    while (from !== null && token === open.token) {
      // An unfiltered stream's versions have no gaps: once a page's size is known, the next pages'
      // first versions are too, and a few are asked at once (what the first render does not wait for).
      const starts = size && !types ? [0, 1, 2, 3].map((n) => from + n * size) : [from];
      const pages = await Promise.all(starts.map((start) => data.historyPage(stream, start, types)));
      if (token !== open.token) return;
      for (const page of pages) {
        appendEvents(page.entries, false);
        size = size ?? page.entries.length;
        from = page.next_version;
        if (from === null) break;
      }
      if (version !== null && open.selected < 0) jumpTo(version);
      $("timeline-note").textContent = from === null ? "" : `loading… ${open.events.length} events so far`;
    }
  } catch (error) {
    if (!refused(error)) $("timeline-note").textContent = `could not read the events: ${error.message}`;
    return;
  }
  if (token !== open.token) return;
  open.complete = true;
  if (!open.events.length) $("timeline-note").textContent = "No events for this session in your namespace.";
  if (version !== null && open.selected < 0) jumpTo(version);
  startFollow();
}

function matches(event) { return !open.types || open.types.includes(event.type); }

function appendEvents(events, arrived) {
  const fragment = document.createDocumentFragment();
  for (const e of events) {
    const index = open.events.length;
    open.events.push(e); open.byVersion.set(e.version, index);
    const li = view.el("li", { "data-version": e.version, "data-type": e.type, class: arrived ? "new" : null },
      view.el("span", { class: "v", text: String(e.version) }),
      view.el("span", { class: "when", text: view.time(e.recorded_at).slice(11), title: view.time(e.recorded_at) }),
      view.el("span", { class: "t", text: e.type, title: e.type }),
      view.el("span", { class: "s" }, view.summary(e), " ", view.el("span", { class: "who", text: view.actor(e) })));
    open.rows.push(li); fragment.append(li);
    if (!open.knownTypes.has(e.type)) { open.knownTypes.add(e.type); $("type-filter").append(view.el("option", { value: e.type, text: e.type })); }
  }
  $("timeline").append(fragment);
  $("timeline-count").textContent = `${open.events.length} event(s)${open.types ? ` of type ${open.types.join(", ")}` : ""}`;
}

function startFollow() {
  if (!$("follow").checked || !open.stream || open.stopFollow) return;
  // From the last event of the namespace log this page holds (a filtered timeline: its last one).
  const after = open.events.length ? open.events[open.events.length - 1].position : 0;
  const token = open.token;
  open.stopFollow = data.follow(open.stream, after, (event) => {
    if (token !== open.token || open.byVersion.has(event.version) || !matches(event)) return;
    appendEvents([event], true);
    $("timeline-note").textContent = "";
  }, (status) => { if (token === open.token) $("live-status").textContent = status; });
}

// -- state, stepping, jumping ---------------------------------------------------------------
let stateToken = 0;
async function select(index) {
  if (index < 0 || index >= open.events.length) return;
  if (open.selected >= 0) open.rows[open.selected].classList.remove("selected");
  open.selected = index;
  const row = open.rows[index];
  row.classList.add("selected"); row.scrollIntoView({ block: "nearest" });
  const event = open.events[index];
  history.replaceState(null, "", `#s=${encodeURIComponent(open.stream)}&v=${event.version}`);
  $("diff-b").value = String(event.version);
  await showState({ version: event.version });
}

async function showState(point) {
  const mine = ++stateToken;
  $("detail-title").textContent = "State";
  try {
    const s = await data.stateAt(open.stream, point);
    if (mine === stateToken) $("detail").replaceChildren(view.state(s));
    return s;
  } catch (error) {
    if (mine === stateToken && !refused(error)) $("detail").replaceChildren(view.el("p", { class: "error", text: error.message }));
    return null;
  }
}

function jumpTo(version) {
  const index = open.byVersion.get(version);
  if (index !== undefined) { select(index); return true; }
  return false;
}

async function jump(text) {
  text = text.trim();
  if (!open.stream || !text) return;
  if (/^\d+$/.test(text)) {
    if (!jumpTo(Number(text))) await showState({ version: Number(text) });
    return;
  }
  const s = await showState({ at: text });
  if (s && s.version) jumpTo(s.version);
}

async function showDiff(a, b) {
  const mine = ++stateToken;
  $("detail-title").textContent = "Diff";
  try {
    const rows = await data.diff(open.stream, a, b);
    if (mine === stateToken) $("detail").replaceChildren(view.diff(rows, a, b));
  } catch (error) {
    if (mine === stateToken && !refused(error)) $("detail").replaceChildren(view.el("p", { class: "error", text: error.message }));
  }
}

// -- wiring ---------------------------------------------------------------------------------
function routeFromHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  const stream = params.get("s");
  if (stream) openSession(stream, { version: params.has("v") ? Number(params.get("v")) : null });
}

// The chain is one over every tenant's events: the server recomputes all of it; the session's
// events are covered when the last one lies within the intact part.
async function verifyChain() {
  const stream = open.stream, token = open.token;
  $("chain-verify").disabled = true; $("chain").className = ""; $("chain").textContent = "verifying…";
  try {
    const found = await data.chain();
    if (token !== open.token) return;
    const last = open.events.length ? open.events[open.events.length - 1].position : 0;
    const covered = found.intact || last < found.broken_at;
    $("chain").className = found.intact ? "ok" : "bad";
    $("chain").textContent = found.intact
      ? `chain intact to position ${found.head} (head ${found.head_hash.slice(0, 12)}…); ${stream}'s events are within it`
      : `chain broken at position ${found.broken_at}: ${found.reason}${covered ? ` (${stream}'s events are before it)` : ""}`;
  } catch (error) {
    if (!refused(error)) $("chain").textContent = `could not verify: ${error.message}`;
  } finally { $("chain-verify").disabled = false; }
}

async function exportSession() {
  const stream = open.stream;
  $("export").disabled = true;
  try {
    const text = await data.exportJsonl(stream);
    const link = view.el("a", { href: URL.createObjectURL(new Blob([text], { type: "application/x-ndjson" })), download: `${stream.replace(/[^\w.-]+/g, "_")}.jsonl` });
    document.body.append(link); link.click(); link.remove();
  } catch (error) { refused(error); } finally { $("export").disabled = false; }
}

document.addEventListener("DOMContentLoaded", () => {
  $("signin-form").addEventListener("submit", (e) => { e.preventDefault(); signIn($("api-key").value.trim()); });
  $("signout").addEventListener("click", () => { history.replaceState(null, "", "#"); signOut(); });
  $("sessions-more").addEventListener("click", moreSessions);
  $("session-search").addEventListener("input", () => { clearTimeout(searchTimer); searchTimer = setTimeout(searchSessions, 200); });
  $("session-open").addEventListener("submit", (e) => { e.preventDefault(); const id = $("session-search").value.trim(); if (id) openSession(id); });
  $("timeline").addEventListener("click", (e) => {
    const row = e.target.closest("li[data-version]");
    if (!row) return;
    const index = open.byVersion.get(Number(row.dataset.version));
    if (e.shiftKey && open.selected >= 0) {
      const a = open.events[open.selected].version, b = Number(row.dataset.version);
      row.classList.add("marked"); $("diff-a").value = String(Math.min(a, b)); $("diff-b").value = String(Math.max(a, b));
      showDiff(Math.min(a, b), Math.max(a, b));
    } else select(index);
  });
  $("type-filter").addEventListener("change", () => { const t = $("type-filter").value; openSession(open.stream, { types: t ? [t] : null }); });
  $("jump-form").addEventListener("submit", (e) => { e.preventDefault(); jump($("jump").value); });
  $("diff-form").addEventListener("submit", (e) => { e.preventDefault(); const a = Number($("diff-a").value), b = Number($("diff-b").value); if (open.stream && a >= 0 && b >= 0) showDiff(a, b); });
  $("export").addEventListener("click", exportSession);
  $("chain-verify").addEventListener("click", verifyChain);
  $("follow").addEventListener("change", () => {
    if ($("follow").checked) { if (open.complete) startFollow(); }
    else if (open.stopFollow) { open.stopFollow(); open.stopFollow = null; $("live-status").textContent = "paused"; }
  });
  document.addEventListener("keydown", (e) => {
    if (e.target.closest("input, select, textarea") || !open.stream || e.altKey || e.ctrlKey || e.metaKey) return;
    if (e.key === "j" || e.key === "ArrowDown") { e.preventDefault(); select(Math.min(open.selected + 1, open.events.length - 1)); }
    else if (e.key === "k" || e.key === "ArrowUp") { e.preventDefault(); select(Math.max(open.selected - 1, 0)); }
  });
  if (data.auth.key) signIn(data.auth.key, true); else showSignin();
});

// Drawing: the typed state of a session, a diff of two states, one-line event summaries.
// Everything from the server is put in the page as text (textContent), never as markup.

export function el(tag, attrs = {}, ...children) {
  const node = tag.startsWith("svg:") ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4)) : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.setAttribute("class", value);
    else if (name === "text") node.textContent = value;
    else node.setAttribute(name, value);
  }
  for (const child of children.flat()) if (child !== null && child !== undefined) node.append(child);
  return node;
}

const json = (value) => (typeof value === "string" ? value : JSON.stringify(value, null, 1));
const short = (value, n = 80) => { const text = typeof value === "string" ? value : JSON.stringify(value); return text.length > n ? text.slice(0, n - 1) + "…" : text; };
export const time = (iso) => (iso ? iso.replace("T", " ").replace(/(\.\d{3})\d*/, "$1").replace("+00:00", "Z") : "");

/** The engine's one-line summary (engine/inspect/history.py, as the CLI prints it) without the
 * type, which has a column of its own. */
export function summary(entry) {
  const line = entry.summary || "";
  return line.startsWith(entry.type) ? line.slice(entry.type.length).trimStart() : line;
}

export function actor(event) {
  const m = event.metadata || {};
  return [m.actor, m.adapter].filter(Boolean).join(" via ");
}

function section(title, ...body) { return el("section", {}, el("h3", { text: title }), ...body); }

function valuesTable(values, kind) {
  const rows = Object.entries(values).map(([key, v]) =>
    el("tr", { class: v.expired ? "expired" : null, "data-key": key },
      el("td", {}, el("code", { text: key })),
      el("td", {}, kind === "part" ? part(v.value) : el("code", { text: json(v.value) })),
      el("td", { class: "muted" }, v.expired ? el("span", { class: "badge", text: "expired" }) : null, v.expires_at ? ` ${time(v.expires_at)}` : "")));
  return el("table", {}, el("tr", {}, el("th", { text: kind === "part" ? "part" : "key" }), el("th", { text: "value" }), el("th", { text: "expires" })), rows);
}

const IMAGE = /^image\/(png|jpeg|gif|webp|bmp|avif)$/;
function part(value) {
  if (value && value.part_type === "image" && value.data) {
    const d = value.data;
    if (d.type === "bytes" && IMAGE.test(d.mime_type)) return el("img", { class: "part", alt: d.name || "image part", src: `data:${d.mime_type};base64,${d.bytes}` });
    if (d.type === "url") return el("span", {}, el("span", { class: "badge", text: "image (remote, not loaded)" }), " ", el("code", { text: d.url }));
  }
  if (value && value.part_type === "text") return el("span", { text: value.data });
  return el("code", { text: json(value) });
}

function text(content) {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) return content.map((p) => (typeof p === "string" ? p : p.text ?? p.data ?? p.content ?? JSON.stringify(p))).join("\n");
  if (content && typeof content === "object") return content.text ?? JSON.stringify(content);
  return String(content ?? "");
}

function chat(messages) {
  return el("div", { class: "chat" }, messages.map((m) => {
    const role = m.role ?? m.author ?? m.type ?? "message";
    return el("div", { class: `msg ${role}` }, el("div", { class: "role", text: role }), el("div", { text: text(m.content ?? m.text ?? m.parts ?? m) }));
  }));
}

function thread(items) {
  return el("div", {}, Object.values(items).map((item) =>
    el("div", { class: item.parent_id ? "item reply" : "item" },
      el("div", { class: "muted", text: `${item.id}${item.user_id ? " · " + item.user_id : ""} · ${time(item.created_at)}` }),
      el("div", { text: text(item.content) }))));
}

/** A graph's vertices on a circle, edges as lines with their labels. */
export function graph(vertices, edges) {
  const ids = Object.keys(vertices), n = ids.length, w = 480, h = 320, r = Math.min(w, h) / 2 - 40;
  const angle = (i) => (2 * Math.PI * i) / Math.max(n, 1) - Math.PI / 2; // the first vertex at the top
  const at = new Map(ids.map((id, i) => [id, [w / 2 + r * Math.cos(angle(i)), h / 2 + r * Math.sin(angle(i))]]));
  const svg = el("svg:svg", { class: "graph", viewBox: `0 0 ${w} ${h}`, role: "img", "aria-label": `graph of ${n} vertices` });
  for (const e of Object.values(edges)) {
    const a = at.get(e.from_id), b = at.get(e.to_id);
    if (!a || !b) continue;
    svg.append(el("svg:line", { x1: a[0], y1: a[1], x2: b[0], y2: b[1], "data-edge": e.element_id }),
      el("svg:text", { x: (a[0] + b[0]) / 2, y: (a[1] + b[1]) / 2 - 3, "text-anchor": "middle", text: e.label ?? "" }));
  }
  for (const [id, [x, y]] of at) {
    const v = vertices[id];
    svg.append(el("svg:g", { "data-vertex": id }, el("svg:circle", { cx: x, cy: y, r: 16 }),
      el("svg:text", { x, y: y + 30, "text-anchor": "middle", text: (v.labels && v.labels.length ? `${v.labels.join(",")}: ` : "") + id })));
  }
  return svg;
}

function object(alias, o) {
  const kind = o.envelope.type;
  const head = el("h3", {}, `${alias} `, el("span", { class: "badge", text: kind }));
  const body = [];
  if (kind === "messages") body.push(chat(o.messages));
  else if (kind === "thread") body.push(thread(o.items));
  else if (kind === "graph") body.push(graph(o.vertices, o.edges));
  const rest = Object.fromEntries(Object.entries(o.envelope.value || {}).filter(([k]) => k !== "type"));
  if (Object.keys(rest).length) body.push(el("pre", { class: "envelope", text: JSON.stringify(rest) }));
  return el("section", { class: `object ${kind}`, "data-alias": alias }, head, ...body);
}

/** The session as of one event. */
export function state(s) {
  const parts = [el("p", { class: "muted", text: `as of version ${s.version} · ${time(s.recorded_at)}${s.as_of ? ` · expiry judged at ${time(s.as_of)}` : ""}` })];
  const values = Object.keys(s.values || {}).length;
  parts.push(section(`Values (${values})`, values ? valuesTable(s.values, "value") : el("p", { class: "muted", text: "none" })));
  if (Object.keys(s.user_parts || {}).length) parts.push(section("User parts", valuesTable(s.user_parts, "part")));
  if (s.record) parts.push(section("Record", el("table", { class: "record" }, Object.entries(s.record).map(([k, v]) => el("tr", {}, el("td", {}, el("code", { text: k })), el("td", {}, el("code", { text: json(v) })))))));
  for (const [alias, o] of Object.entries(s.objects || {})) parts.push(object(alias, o));
  return el("div", { class: "state" }, parts);
}

// -- diff: one row per thing added, removed or changed, highlighted by kind --
// A value state shows its value (and "expired"), a user part as the state view draws it.
function shown(v) {
  if (v === undefined) return "";
  const isState = v && typeof v === "object" && "expired" in v && "value" in v;
  const value = isState ? v.value : v;
  const drawn = value && typeof value === "object" && value.part_type ? part(value) : el("code", { text: JSON.stringify(value) });
  return isState && v.expired ? el("span", {}, drawn, " ", el("span", { class: "badge", text: "expired" })) : drawn;
}

function mapRows(rows, path, d) {
  if (!d) return;
  for (const [k, v] of Object.entries(d.added || {})) rows.push(["added", `${path} / ${k}`, undefined, v]);
  for (const [k, v] of Object.entries(d.removed || {})) rows.push(["removed", `${path} / ${k}`, v, undefined]);
  for (const [k, c] of Object.entries(d.changed || {})) rows.push(["changed", `${path} / ${k}`, c.before, c.after]);
}

/** The rows of the engine's diff (GET /api/sessions/{id}/diff, `engine.diff`). */
export function engineDiffRows(d) {
  const rows = [];
  mapRows(rows, "values", d.values);
  mapRows(rows, "user parts", d.user_parts);
  if (d.record_exists) rows.push([d.record_exists.after ? "added" : "removed", "record", undefined, undefined]);
  mapRows(rows, "record", d.record);
  const objects = d.objects || {};
  for (const [alias, o] of Object.entries(objects.created || {})) rows.push(["added", `objects / ${alias}`, undefined, o.envelope.type]);
  for (const [alias, o] of Object.entries(objects.deleted || {})) rows.push(["removed", `objects / ${alias}`, o.envelope.type, undefined]);
  for (const [alias, c] of Object.entries(objects.changed || {})) {
    const path = `objects / ${alias}`;
    if (c.envelope) rows.push(["changed", `${path} / envelope`, c.envelope.before, c.envelope.after]);
    if (c.messages) c.messages.appended.forEach((m, i) => rows.push(["added", `${path} / messages / ${c.messages.kept + i + 1}`, undefined, m]));
    mapRows(rows, `${path} / items`, c.items);
    mapRows(rows, `${path} / vertices`, c.vertices);
    mapRows(rows, `${path} / edges`, c.edges);
  }
  return rows;
}

export function diff(rows, a, b) {
  const title = el("p", { class: "muted", text: `version ${a} → version ${b}: ${rows.length} change(s)` });
  const table = el("table", {}, el("tr", {}, el("th", {}), el("th", { text: "where" }), el("th", { text: "before" }), el("th", { text: "after" })),
    rows.map(([kind, path, x, y]) => el("tr", { class: kind, "data-path": path }, el("td", { text: kind }), el("td", {}, el("code", { text: path })),
      el("td", {}, shown(x)), el("td", {}, shown(y)))));
  return el("div", { class: "diff" }, title, rows.length ? table : el("p", { text: "no change" }));
}

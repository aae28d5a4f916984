// The locus live map: the overlay from /api/overlay, kept current by /api/events.
//
// Plain JS, no libraries. Drawing is batched into one animation frame however many changes
// arrive. Up to SVG_MAX groups each is an SVG circle, kept from one drawing to the next (the
// rendezvous keeps positions stable between layouts); beyond that the map is drawn on a
// canvas, which stays fast at the directory's cap of 100,000 groups. The side panel lists at
// most TABLE_MAX groups.
"use strict";

const SVG_MAX = 1500; // groups drawn as SVG circles; more go to the canvas
const LABEL_MAX = 300; // links labelled with their RTT
const NAME_MAX = 30; // groups whose leader is named beside the circle without hovering
const TABLE_MAX = 200; // rows of the groups table
const EVENTS_MAX = 100; // events in the panel
const SVG_NS = "http://www.w3.org/2000/svg";

const state = {
  groups: new Map(), // id -> group as in /api/overlay
  links: [],
  linksTotal: 0,
  embedding: null,
  version: -1,
  takenAt: 0,
  events: new Map(), // seq -> event
  selected: null,
  hovered: null,
};

const $ = (id) => document.getElementById(id);
const svg = $("map");
const canvas = $("canvas");
const circles = new Map(); // id -> <circle>

// ---- data ---------------------------------------------------------------------------------

let loading = false;
let loadAgain = false;

async function load() {
  if (loading) {
    loadAgain = true;
    return;
  }
  loading = true;
  const started = performance.now();
  try {
    const r = await fetch("api/overlay", { cache: "no-store" });
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    apply(await r.json(), false, started);
  } catch (e) {
    setStatus(false, `cannot load the overlay: ${e.message}`);
  } finally {
    loading = false;
    if (loadAgain) {
      loadAgain = false;
      load();
    }
  }
}

// Takes an overlay from the rendezvous, fetched from `started` on; draws at once when `now`,
// else in the next frame. Its events are the rendezvous' latest, so they replace the page's
// (the numbering starts again when the rendezvous restarts), except those that came over the
// feed while the overlay was on its way.
function apply(o, now, started = Infinity) {
  for (const g of o.groups) {
    const before = state.groups.get(g.id);
    if (before && before.fresh && before.leader && g.leader && before.leader.id === g.leader.id) {
      g.fresh = before.fresh;
    }
  }
  state.groups = new Map(o.groups.map((g) => [g.id, g]));
  state.links = o.links;
  state.linksTotal = o.links_total;
  state.embedding = o.embedding;
  state.version = o.version;
  state.takenAt = o.taken_at_unix_ms;
  const during = [...state.events.values()].filter((e) => e.received >= started);
  state.events = new Map(o.events.concat(during).map((e) => [e.seq, e]));
  trimEvents();
  if (state.selected && !state.groups.has(state.selected)) state.selected = null;
  if (now) draw();
  else schedule();
}

function onChange(e) {
  e.received = performance.now();
  state.events.set(e.seq, e);
  trimEvents();
  const g = state.groups.get(e.group);
  switch (e.kind) {
    case "created":
      // Drawn once the next layout places it (within a fraction of a second).
      if (!g) {
        state.groups.set(e.group, {
          id: e.group, epoch: e.epoch, leader: e.leader, successors: [],
          members: e.members, x: null, y: null,
        });
      }
      break;
    case "leader_changed":
      if (g) {
        g.leader = e.leader;
        g.epoch = e.epoch;
        g.fresh = Date.now();
      }
      break;
    case "members_changed":
      if (g) g.members = e.members;
      break;
    case "ended":
      state.groups.delete(e.group);
      state.links = state.links.filter((l) => l.a !== e.group && l.b !== e.group);
      if (state.selected === e.group) state.selected = null;
      break;
  }
  schedule();
}

function trimEvents() {
  if (state.events.size <= EVENTS_MAX) return;
  const seqs = [...state.events.keys()].sort((a, b) => a - b);
  for (const s of seqs.slice(0, seqs.length - EVENTS_MAX)) state.events.delete(s);
}

// ---- live feed ----------------------------------------------------------------------------

function connect() {
  const es = new EventSource("api/events");
  es.addEventListener("open", () => setStatus(true, "live"));
  es.addEventListener("overlay", () => load());
  es.addEventListener("change", (m) => onChange(JSON.parse(m.data)));
  // The browser reconnects by itself; the first message after that reloads the overlay.
  es.addEventListener("error", () => setStatus(false, "reconnecting"));
}

function setStatus(up, text) {
  const s = $("status");
  s.textContent = text;
  s.className = up ? "" : "down";
}

// ---- drawing ------------------------------------------------------------------------------

let frame = 0;
function schedule() {
  if (!frame) frame = requestAnimationFrame(draw);
}

function draw() {
  if (frame) cancelAnimationFrame(frame);
  frame = 0;
  const placed = [...state.groups.values()].filter((g) => Number.isFinite(g.x));
  const view = fit(placed);
  if (placed.length > SVG_MAX) {
    svg.style.display = "none";
    canvas.hidden = false;
    clearSvg();
    drawCanvas(placed, view);
  } else {
    svg.style.display = "";
    canvas.hidden = true;
    drawSvg(placed, view);
  }
  drawPanel();
}

// Maps positions (ms of RTT) to pixels, keeping the aspect ratio; room is left for the
// leaders' names on the right and the legend below.
function fit(placed) {
  const w = svg.clientWidth || canvas.clientWidth || 800;
  const h = svg.clientHeight || canvas.clientHeight || 600;
  const m = { left: 60, right: 160, top: 60, bottom: 150 };
  let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
  for (const g of placed) {
    x0 = Math.min(x0, g.x); x1 = Math.max(x1, g.x);
    y0 = Math.min(y0, g.y); y1 = Math.max(y1, g.y);
  }
  if (!placed.length) [x0, x1, y0, y1] = [0, 1, 0, 1];
  const span = Math.max(x1 - x0, y1 - y0, 1e-3);
  const k = Math.max(Math.min((w - m.left - m.right) / Math.max(x1 - x0, span * 0.2),
    (h - m.top - m.bottom) / Math.max(y1 - y0, span * 0.2)), 1e-6);
  const cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
  const ox = m.left + (w - m.left - m.right) / 2, oy = m.top + (h - m.top - m.bottom) / 2;
  return { w, h, k, px: (x) => ox + (x - cx) * k, py: (y) => oy + (y - cy) * k };
}

// A scale bar: the round number of milliseconds closest to 120 pixels.
function drawScale(view, layer) {
  const steps = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000];
  const ms = steps.reduce((best, s) =>
    Math.abs(s * view.k - 120) < Math.abs(best * view.k - 120) ? s : best);
  const len = ms * view.k;
  el("path", { d: `M20 24 h${len}`, class: "scale" }, layer);
  el("text", { x: 20, y: 16, class: "scale-label" }, layer).textContent = `${ms} ms of RTT`;
}

function radius(g, small) {
  const m = Math.max(g.members || 1, 1);
  return small ? Math.min(2 + Math.sqrt(m), 12) : Math.min(6 + 3 * Math.sqrt(m), 34);
}

function el(name, attrs, parent) {
  const e = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}

function leaderName(p) {
  return p ? p.addr : "?";
}

function short(id) {
  return id.slice(0, 8);
}

function drawSvg(placed, view) {
  // Links and labels are redrawn; circles are kept per group.
  const linkLayer = $("links"), labelLayer = $("labels");
  linkLayer.replaceChildren();
  labelLayer.replaceChildren();
  if (placed.length > 1) drawScale(view, labelLayer);
  const byId = state.groups;
  const label = state.links.length <= LABEL_MAX;
  for (const l of state.links) {
    const a = byId.get(l.a), b = byId.get(l.b);
    if (!a || !b || !Number.isFinite(a.x) || !Number.isFinite(b.x)) continue;
    const line = el("line", {
      x1: view.px(a.x), y1: view.py(a.y), x2: view.px(b.x), y2: view.py(b.y),
      class: "link" + (l.announced_by === 2 ? "" : " one-end") + (l.partition ? " partition" : ""),
    }, linkLayer);
    el("title", {}, line).textContent =
      `${short(l.a)} – ${short(l.b)}: ${l.rtt_ms.toFixed(1)} ms` +
      (l.partition ? " (kept against partitions)" : "");
    if (label) {
      el("text", {
        x: (view.px(a.x) + view.px(b.x)) / 2, y: (view.py(a.y) + view.py(b.y)) / 2 - 3,
        class: "rtt", "text-anchor": "middle",
      }, labelLayer).textContent = `${l.rtt_ms.toFixed(l.rtt_ms < 10 ? 1 : 0)} ms`;
    }
  }
  const layer = $("groups");
  const seen = new Set();
  const now = Date.now();
  for (const g of placed) {
    seen.add(g.id);
    let c = circles.get(g.id);
    if (!c) {
      c = el("circle", { class: "group", "data-group": g.id }, layer);
      el("title", {}, c);
      c.addEventListener("click", () => select(g.id));
      c.addEventListener("mouseenter", () => { state.hovered = g.id; schedule(); });
      c.addEventListener("mouseleave", () => { state.hovered = null; schedule(); });
      circles.set(g.id, c);
    }
    c.setAttribute("cx", view.px(g.x));
    c.setAttribute("cy", view.py(g.y));
    c.setAttribute("r", radius(g, false));
    c.setAttribute("data-leader", leaderName(g.leader));
    let cls = "group";
    if (g.id === state.selected) cls += " selected";
    if (g.fresh && now - g.fresh < 3000) cls += " fresh";
    c.setAttribute("class", cls);
    c.firstChild.textContent = `group ${short(g.id)}\nleader ${leaderName(g.leader)}` +
      `\nepoch ${g.epoch}, ${plural(g.members, "member")}`;
    if (placed.length <= NAME_MAX || g.id === state.selected || g.id === state.hovered) {
      el("text", {
        x: view.px(g.x) + radius(g, false) + 4, y: view.py(g.y) + 4, class: "leader",
      }, labelLayer).textContent = leaderName(g.leader);
    }
  }
  for (const [id, c] of circles) {
    if (!seen.has(id)) {
      c.remove();
      circles.delete(id);
    }
  }
  if (placed.some((g) => g.fresh && now - g.fresh < 3000)) setTimeout(schedule, 3000);
}

function clearSvg() {
  for (const c of circles.values()) c.remove();
  circles.clear();
  $("links").replaceChildren();
  $("labels").replaceChildren();
}

function drawCanvas(placed, view) {
  const ratio = window.devicePixelRatio || 1;
  canvas.width = view.w * ratio;
  canvas.height = view.h * ratio;
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, view.w, view.h);
  // Near links first, then the links kept against partitions, in their own colour.
  for (const [partition, style] of [[false, "rgba(136, 150, 165, 0.5)"], [true, "rgba(208, 138, 0, 0.8)"]]) {
    ctx.strokeStyle = style;
    ctx.lineWidth = partition ? 1.2 : 0.7;
    ctx.beginPath();
    for (const l of state.links) {
      if (Boolean(l.partition) !== partition) continue;
      const a = state.groups.get(l.a), b = state.groups.get(l.b);
      if (!a || !b || !Number.isFinite(a.x) || !Number.isFinite(b.x)) continue;
      ctx.moveTo(view.px(a.x), view.py(a.y));
      ctx.lineTo(view.px(b.x), view.py(b.y));
    }
    ctx.stroke();
  }
  ctx.fillStyle = "rgba(61, 124, 201, 0.7)";
  ctx.beginPath();
  for (const g of placed) {
    const x = view.px(g.x), y = view.py(g.y), r = radius(g, true);
    ctx.moveTo(x + r, y);
    ctx.arc(x, y, r, 0, 2 * Math.PI);
  }
  ctx.fill();
  const s = state.groups.get(state.selected);
  if (s && Number.isFinite(s.x)) {
    const x = view.px(s.x), y = view.py(s.y);
    ctx.fillStyle = "#e0a100";
    ctx.beginPath();
    ctx.arc(x, y, radius(s, true) + 3, 0, 2 * Math.PI);
    ctx.fill();
    ctx.fillStyle = "#1d2733";
    ctx.font = "12px system-ui, sans-serif";
    ctx.fillText(leaderName(s.leader), x + 10, y + 4);
  }
  canvas.onclick = (ev) => {
    // The nearest group within a few pixels: one pass, fine at 100,000.
    const rect = canvas.getBoundingClientRect();
    const mx = ev.clientX - rect.left, my = ev.clientY - rect.top;
    let best = null, bestD = 100;
    for (const g of placed) {
      const d = (view.px(g.x) - mx) ** 2 + (view.py(g.y) - my) ** 2;
      if (d < bestD) { best = g.id; bestD = d; }
    }
    select(best);
  };
}

function select(id) {
  state.selected = id;
  schedule();
}

// ---- side panel ---------------------------------------------------------------------------

function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function clock(ms) {
  return new Date(ms).toLocaleTimeString([], { hour12: false });
}

function ago(ms) {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  return `${Math.floor(s / 3600)} h ago`;
}

function text(tag, content, cls) {
  const e = document.createElement(tag);
  e.textContent = content;
  if (cls) e.className = cls;
  return e;
}

function drawPanel() {
  const groups = [...state.groups.values()];
  const members = groups.reduce((n, g) => n + (g.members || 0), 0);
  const emb = state.embedding;
  $("summary").textContent =
    `${plural(groups.length, "group")}, ${plural(members, "member")}, ` +
    `${plural(state.linksTotal, "link")}` +
    (state.links.length < state.linksTotal ? ` (the ${state.links.length} shortest drawn)` : "") +
    (emb ? `. Layout: ${emb.method} (${plural(emb.landmarks, "landmark")}, ` +
      `${emb.compute_ms.toFixed(1)} ms), version ${state.version} at ${clock(state.takenAt)}.` : "");

  const sel = state.groups.get(state.selected);
  const box = $("selected");
  if (sel) {
    box.className = "";
    const neighbours = state.links
      .filter((l) => l.a === sel.id || l.b === sel.id)
      .map((l) => `${short(l.a === sel.id ? l.b : l.a)} ${l.rtt_ms.toFixed(1)} ms`);
    box.replaceChildren(
      text("div", `group ${sel.id}`),
      text("div", `leader ${leaderName(sel.leader)} (${sel.leader ? short(sel.leader.id) : "?"})`),
      text("div", `epoch ${sel.epoch}, ${plural(sel.members, "member")}`),
      text("div", `successors: ${(sel.successors || []).map(leaderName).join(", ") || "none"}`),
      text("div", `links: ${neighbours.join(", ") || "none"}`),
    );
  } else {
    box.className = "muted";
    box.textContent = "Click a group on the map or in the table.";
  }

  groups.sort((a, b) => (b.members - a.members) || a.id.localeCompare(b.id));
  const rows = groups.slice(0, TABLE_MAX).map((g) => {
    const tr = document.createElement("tr");
    tr.dataset.group = g.id;
    if (g.id === state.selected) tr.className = "selected";
    tr.append(
      text("td", short(g.id)),
      text("td", leaderName(g.leader), "leader-name"),
      text("td", String(g.epoch), "num"),
      text("td", String(g.members), "num"),
    );
    tr.addEventListener("click", () => select(g.id));
    return tr;
  });
  $("group-table").tBodies[0].replaceChildren(...rows);
  $("group-more").textContent = groups.length > TABLE_MAX
    ? `and ${groups.length - TABLE_MAX} smaller groups (select them on the map)` : "";

  const events = [...state.events.values()].sort((a, b) => b.seq - a.seq);
  $("events").replaceChildren(...events.map((e) => {
    const li = document.createElement("li");
    li.className = e.kind;
    const t = text("time", clock(e.at_unix_ms));
    t.dateTime = new Date(e.at_unix_ms).toISOString();
    li.append(t, describe(e), " ", text("span", ago(e.at_unix_ms), "ago"));
    return li;
  }));
}

function describe(e) {
  const g = `group ${short(e.group)}`;
  switch (e.kind) {
    case "created":
      return `${g} created, led by ${leaderName(e.leader)} (${plural(e.members, "member")})`;
    case "leader_changed":
      return `${g}: leader ${leaderName(e.previous_leader)} → ${leaderName(e.leader)} ` +
        `(epoch ${e.epoch})`;
    case "members_changed":
      return `${g}: ${e.previous_members} → ${plural(e.members, "member")}`;
    case "ended":
      return `${g} ${e.reason === "expired" ? "expired (its leader went silent)" : "ended"}`;
    default:
      return `${g}: ${e.kind}`;
  }
}

window.addEventListener("resize", schedule);
// The relative times in the panel age.
setInterval(() => { if (state.events.size) schedule(); }, 5000);
// The page came with the overlay (api/overlay.js): it is drawn before the page has loaded.
if (window.LOCUS_OVERLAY) apply(window.LOCUS_OVERLAY, true);
else load();
connect();

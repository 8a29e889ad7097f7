// The status page: fed by /api/status/events (SSE). Text goes in with textContent only:
// names and overlay text come from the cloud and the LAN and are never trusted as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const SCALE_MAX = 12;

function cell(tag, value, cls) {
  const el = document.createElement(tag);
  if (value instanceof Node) el.appendChild(value);
  else el.textContent = value === null || value === undefined ? "—" : String(value);
  if (cls) el.className = cls;
  return el;
}

// Keys become words: `control_socket` -> "Control socket"; short forms stay capitals.
const WORDS = { iptv: "IPTV", fps: "FPS", id: "ID", ids: "IDs", url: "URL", lan: "LAN", api: "API",
  led: "LED", ws: "WS", sn: "SN", ip: "IP", mac: "MAC", os: "OS", http: "HTTP", ok: "OK" };
const LABELS = { sn_number: "Serial number" };

function label(key) {
  if (LABELS[key]) return LABELS[key];
  const words = String(key).split(/[_\s]+/).filter(Boolean).map((w) => WORDS[w.toLowerCase()] || w);
  if (words.length === 0) return String(key);
  const first = words[0];
  words[0] = first === first.toLowerCase() ? first[0].toUpperCase() + first.slice(1) : first;
  return words.join(" ");
}

function statusClass(value) {
  const v = String(value).toLowerCase();
  if (["running", "ready", "true", "connected", "active", "ok"].includes(v)) return "ok";
  if (["backoff", "failed", "false", "disconnected", "disabled", "error"].includes(v)) return "bad";
  if (["downloading", "partial", "starting", "expired"].includes(v)) return "warn";
  return "";
}

function format(value) {
  if (typeof value === "object" && value !== null) return JSON.stringify(value);
  return value;
}

function progress(done, total) {
  const bar = document.createElement("div");
  bar.className = "bar";
  const fill = document.createElement("span");
  fill.style.width = total ? `${Math.round((100 * done) / total)}%` : "0";
  bar.appendChild(fill);
  bar.title = `${done} / ${total}`;
  return bar;
}

function renderPairs(table, obj) {
  table.replaceChildren();
  if (!obj || Object.keys(obj).length === 0) {
    table.appendChild(cell("tr", "")).appendChild(cell("td", "nothing to show"));
    return;
  }
  for (const [key, value] of Object.entries(obj)) {
    const tr = document.createElement("tr");
    tr.appendChild(cell("th", label(key)));
    tr.appendChild(cell("td", format(value), statusClass(value)));
    table.appendChild(tr);
  }
}

function renderRows(table, rows) {
  table.replaceChildren();
  if (!rows || rows.length === 0) {
    table.appendChild(cell("tr", "")).appendChild(cell("td", "nothing to show"));
    return;
  }
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const head = document.createElement("tr");
  columns.forEach((c) => head.appendChild(cell("th", label(c))));
  table.appendChild(head);
  for (const row of rows) {
    const tr = document.createElement("tr");
    for (const c of columns) {
      const v = row[c];
      if (c === "downloaded_items" && "total_items" in row) {
        tr.appendChild(cell("td", progress(v, row.total_items)));
      } else {
        tr.appendChild(cell("td", format(v), statusClass(v)));
      }
    }
    table.appendChild(tr);
  }
}

function render(s) {
  $("title").textContent = `edgebox · ${s.venue} · ${s.sn_number} · v${s.version}`;
  const ready = $("ready");
  ready.textContent = s.ready ? "ready" : `not ready: ${s.not_ready.join("; ")}`;
  ready.className = `pill ${s.ready ? "ok" : "bad"}`;
  renderRows($("panels"), s.panels || []);
  renderPairs($("cloud"), s.cloud);
  renderRows($("playlists"), s.playlists || []);
  renderPairs($("display"), {
    brightness: s.brightness,
    volume: s.volume,
    overlay: s.overlay ? s.overlay.text : null,
    ...Object.fromEntries(
      Object.entries(s.playback || {}).map(([screen, p]) => [
        `screen ${screen}`,
        `playlist ${p.playlist_id}, item ${p.index + 1}/${p.media_ids.length}, ` +
          (p.playing ? "playing" : "paused"),
      ]),
    ),
  });
  renderPairs($("cache"), s.cache);
  renderPairs($("update"), s.update);
  renderPairs($("iptv"), s.iptv);
  renderRows(
    $("services"),
    Object.entries(s.services).map(([name, v]) => ({ service: name, ...v })),
  );
  const problems = $("problems");
  problems.replaceChildren();
  for (const p of (s.recent_problems || []).slice().reverse()) {
    const when = new Date(p.at * 1000).toLocaleTimeString();
    problems.appendChild(cell("li", `${when} ${p.level} ${p.logger}: ${p.message}`));
  }
}

const canvases = new Map();

function drawFrame(f) {
  let entry = canvases.get(f.canvas);
  if (!entry) {
    const figure = document.createElement("figure");
    const canvas = document.createElement("canvas");
    canvas.dataset.canvas = f.canvas;
    figure.appendChild(canvas);
    figure.appendChild(cell("figcaption", `${f.canvas} · ${f.width}×${f.height}`));
    $("canvases").appendChild(figure);
    entry = { canvas, frames: 0 };
    canvases.set(f.canvas, entry);
  }
  const scale = Math.max(1, Math.min(SCALE_MAX, Math.floor(960 / f.width)));
  const canvas = entry.canvas;
  if (canvas.width !== f.width * scale) {
    canvas.width = f.width * scale;
    canvas.height = f.height * scale;
  }
  const img = new Image();
  img.onload = () => {
    const ctx = canvas.getContext("2d");
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
    entry.frames += 1;
    canvas.dataset.frames = String(entry.frames);
  };
  img.src = `data:image/png;base64,${f.png}`;
}

function connect() {
  const events = new EventSource("/api/status/events");
  events.addEventListener("status", (e) => render(JSON.parse(e.data)));
  events.addEventListener("frame", (e) => drawFrame(JSON.parse(e.data)));
  events.onerror = () => {
    const ready = $("ready");
    ready.textContent = "reconnecting…";
    ready.className = "pill bad";
  };
}

connect();

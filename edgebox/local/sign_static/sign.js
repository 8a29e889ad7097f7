// The sign editor. It speaks the box's LED API like any editor and shows what the box renders,
// from /api/sign/events. Text from the playlist goes in with textContent only.
"use strict";

const $ = (id) => document.getElementById(id);
const PRESETS = JSON.parse($("presets").textContent);
const PING_MS = 2000; // the box ends a preview 5 s after the last ping
const PREVIEW_DELAY_MS = 150;

const state = {
  items: [],
  session: null, // our preview session while the editor is open
  lockedByOther: false,
  editingId: null, // null: a new item
  kind: null,
  ping: null,
  previewTimer: null,
  image: null, // {image_id, natural_width, natural_height} of the image being edited
  editorEvent: null, // the last /api/events/editor event
};

// ---------------------------------------------------------------- helpers

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key in node && typeof value !== "string") node[key] = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

const hex = (rgb) => "#" + rgb.map((v) => v.toString(16).padStart(2, "0")).join("");
const rgb = (value) => [1, 3, 5].map((i) => parseInt(value.slice(i, i + 2), 16));

class ApiError extends Error {
  constructor(status, body) {
    super(body && body.error ? body.error : `HTTP ${status}`);
    this.status = status;
    this.field = body ? body.field : undefined;
  }
}

async function api(method, url, body, extra = {}) {
  const init = { method, ...extra };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { "Content-Type": "application/json" };
  }
  const response = await fetch(url, init);
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch (_) {
    parsed = null;
  }
  if (!response.ok) throw new ApiError(response.status, parsed);
  return parsed;
}

function say(text, isError = false) {
  const box = $("message");
  box.textContent = text;
  box.className = isError ? "banner error" : "banner";
  box.hidden = !text;
}

// ---------------------------------------------------------------- the playlist

function kindOf(item) {
  const c = item.content || {};
  return c.type || c.content_type || (c.data && c.data.type);
}

function swatch(color) {
  return el("span", { class: "swatch", style: `background:${hex(color)}` });
}

function timing(item) {
  if (item.duration !== null && item.duration !== undefined) return `${item.duration} s`;
  if (!item.repeat_count) return "until the playlist changes";
  const one = item.repeat_count === 1;
  const unit = kindOf(item) === "Image" ? (one ? "play" : "plays") : one ? "pass" : "passes";
  return `${item.repeat_count} ${unit}`;
}

function summary(item) {
  const d = item.content.data;
  const kind = kindOf(item);
  const what = el("div", { class: "what" });
  if (kind === "Text") {
    what.append(swatch(d.color), d.text || "(empty)");
    if (d.scroll) what.append(" · scrolls");
  } else if (kind === "Image") {
    const t = d.transform || d;
    what.append(`at ${t.x}, ${t.y} ×${t.scale}`);
    if (d.animation) what.append(` · ${d.animation.keyframes.length} keyframes`);
  } else if (kind === "Clock") {
    what.append(swatch(d.color), `${d.format} clock${d.show_seconds ? " with seconds" : ""}`);
  } else if (kind === "Animation") {
    what.append(d.preset, " ");
    d.colors.forEach((c) => what.append(swatch(c)));
  }
  return what;
}

function renderItems() {
  const list = $("items");
  list.replaceChildren();
  const busy = state.lockedByOther || state.session !== null;
  for (const [index, item] of state.items.entries()) {
    const kind = kindOf(item);
    const thumb =
      kind === "Image"
        ? el("img", {
            class: "thumb",
            alt: "",
            src: `/api/images/${encodeURIComponent(item.content.data.image_id)}/thumbnail`,
          })
        : null;
    const remove = el("button", { type: "button", class: "delete", text: "Delete", disabled: busy });
    remove.addEventListener("click", () => {
      if (remove.dataset.armed) return deleteItem(item.id);
      remove.dataset.armed = "1";
      remove.textContent = "Delete?";
      setTimeout(() => {
        delete remove.dataset.armed;
        remove.textContent = "Delete";
      }, 4000);
    });
    list.append(
      el(
        "li",
        { class: "item", "data-id": item.id },
        el("span", { class: "handle", title: "Drag to reorder", text: "⠿", "aria-hidden": "true" }),
        thumb,
        el(
          "div",
          { class: "summary" },
          el("div", { class: "kind", text: `${kind} · ${timing(item)}` }),
          summary(item),
        ),
        el("button", {
          type: "button",
          class: "up",
          text: "↑",
          title: "Move up",
          disabled: busy || index === 0,
          onclick: () => move(index, index - 1),
        }),
        el("button", {
          type: "button",
          class: "down",
          text: "↓",
          title: "Move down",
          disabled: busy || index === state.items.length - 1,
          onclick: () => move(index, index + 1),
        }),
        el("button", {
          type: "button",
          class: "edit",
          text: "Edit",
          disabled: busy,
          onclick: () => openEditor(item),
        }),
        remove,
      ),
    );
  }
  $("empty").hidden = state.items.length > 0;
  document.querySelectorAll("[data-add]").forEach((b) => (b.disabled = busy));
  document.body.dataset.items = String(state.items.length);
}

async function loadItems() {
  state.items = await api("GET", "/api/playlist/items");
  renderItems();
}

async function deleteItem(id) {
  try {
    await api("DELETE", `/api/playlist/items/${encodeURIComponent(id)}`);
    await loadItems();
  } catch (error) {
    say(`Could not delete: ${error.message}`, true);
  }
}

async function reorder(ids) {
  try {
    state.items = await api("PUT", "/api/playlist/reorder", { item_ids: ids });
  } catch (error) {
    say(`Could not reorder: ${error.message}`, true);
    await loadItems();
    return;
  }
  renderItems();
}

function move(from, to) {
  const ids = state.items.map((i) => i.id);
  const [id] = ids.splice(from, 1);
  ids.splice(to, 0, id);
  reorder(ids);
}

// Drag by the handle with pointer events: the same code for a mouse and a finger.
function enableDragging() {
  const list = $("items");
  let dragged = null;
  list.addEventListener("pointerdown", (event) => {
    const handle = event.target.closest(".handle");
    if (!handle || state.lockedByOther || state.session !== null) return;
    dragged = handle.closest(".item");
    dragged.classList.add("dragging");
    try {
      handle.setPointerCapture(event.pointerId);
    } catch (_) {
      // a pointer the browser does not track (a synthetic event): dragging works without
    }
    event.preventDefault();
  });
  list.addEventListener("pointermove", (event) => {
    if (!dragged) return;
    for (const other of list.children) {
      if (other === dragged) continue;
      const box = other.getBoundingClientRect();
      if (event.clientY > box.top && event.clientY < box.bottom) {
        const before = event.clientY < box.top + box.height / 2;
        list.insertBefore(dragged, before ? other : other.nextSibling);
        break;
      }
    }
  });
  const drop = () => {
    if (!dragged) return;
    dragged.classList.remove("dragging");
    dragged = null;
    const ids = [...list.children].map((li) => li.dataset.id);
    if (ids.join("\n") !== state.items.map((i) => i.id).join("\n")) reorder(ids);
  };
  list.addEventListener("pointerup", drop);
  list.addEventListener("pointercancel", drop);
}

// ---------------------------------------------------------------- the item form

const DEFAULTS = {
  Text: () => ({ text: "Hello", scroll: false, color: [255, 255, 255], speed: 50, text_segments: null }),
  Image: () => ({ image_id: null, transform: { x: 0, y: 0, scale: 1 } }),
  Clock: () => ({ format: "24h", show_seconds: false, color: [255, 255, 255] }),
  Animation: () => ({ preset: "Pulse", colors: [[255, 0, 0], [0, 0, 255]] }),
};

function field(label, input, cls) {
  return el("label", { class: cls }, `${label} `, input);
}

function numberInput(id, value, step = "any", min) {
  return el("input", { id, type: "number", step, min, value: String(value ?? "") });
}

function colorList(id, colors) {
  const box = el("div", { class: "colors", id });
  const add = (color) => {
    const input = el("input", { type: "color", value: hex(color) });
    const drop = el("button", {
      type: "button",
      text: "×",
      title: "Remove colour",
      onclick: () => {
        wrap.remove();
        changed();
      },
    });
    const wrap = el("span", { class: "color" }, input, drop);
    box.insertBefore(wrap, plus);
  };
  const plus = el("button", {
    type: "button",
    text: "+ colour",
    onclick: () => {
      add([255, 255, 255]);
      changed();
    },
  });
  box.append(plus);
  colors.forEach(add);
  return box;
}

const readColors = (id) =>
  [...document.querySelectorAll(`#${id} input[type=color]`)].map((i) => rgb(i.value));

function segmentRow(seg) {
  const fmt = seg.formatting || {};
  const row = el(
    "div",
    { class: "row segment" },
    field("from", numberInput("", seg.start, "1", "0")),
    field("to", numberInput("", seg.end, "1", "1")),
    field("colour", el("input", { type: "checkbox", class: "seg-has-color", checked: !!seg.color })),
    el("input", { type: "color", class: "seg-color", value: hex(seg.color || [255, 0, 0]) }),
    field("bold", el("input", { type: "checkbox", class: "seg-bold", checked: !!fmt.bold })),
    field("underline", el("input", { type: "checkbox", class: "seg-underline", checked: !!fmt.underline })),
    field("strike", el("input", { type: "checkbox", class: "seg-strike", checked: !!fmt.strikethrough })),
    el("button", { type: "button", text: "×", title: "Remove", onclick: () => (row.remove(), changed()) }),
  );
  return row;
}

function keyframeRow(kf) {
  const row = el(
    "div",
    { class: "row keyframe" },
    field("ms", numberInput("", kf.timestamp_ms, "1", "0")),
    field("x", numberInput("", kf.x, "1")),
    field("y", numberInput("", kf.y, "1")),
    field("scale", numberInput("", kf.scale ?? 1, "any", "0.01")),
    el("button", { type: "button", text: "×", title: "Remove", onclick: () => (row.remove(), changed()) }),
  );
  return row;
}

function settingInput(name, kind, value) {
  const id = `f-set-${name}`;
  if (kind === "bool") return el("input", { id, type: "checkbox", checked: !!value });
  if (kind === "color") return el("input", { id, type: "color", value: hex(value) });
  const integer = ["ms", "count", "border"].includes(kind);
  return numberInput(id, value, integer ? "1" : "any");
}

function animationSettings(preset, data) {
  const box = $("f-settings");
  box.replaceChildren();
  for (const [name, spec] of Object.entries(PRESETS[preset])) {
    const value = data[name] ?? spec.default;
    box.append(field(name.replaceAll("_", " "), settingInput(name, spec.kind, value)));
  }
}

function buildFields(kind, data) {
  const fields = $("fields");
  fields.replaceChildren();
  if (kind === "Text") {
    fields.append(
      field("Text", el("input", { id: "f-text", class: "wide", value: data.text, maxlength: "2000" }), "wide"),
      field("Colour", el("input", { id: "f-color", type: "color", value: hex(data.color) })),
      field("Scroll", el("input", { id: "f-scroll", type: "checkbox", checked: data.scroll })),
      field("Speed (px/s)", numberInput("f-speed", data.speed, "any", "0")),
      el(
        "fieldset",
        {},
        el("legend", { text: "Coloured and styled parts (select characters, then + part)" }),
        el("div", { id: "f-segments", class: "rows" }, ...(data.text_segments || []).map(segmentRow)),
        el("button", {
          type: "button",
          id: "f-add-segment",
          text: "+ part",
          onclick: () => {
            // the part selected in the text, else its first character
            const input = $("f-text");
            const [start, end] = state.selection || [0, Math.min(1, input.value.length)];
            $("f-segments").append(segmentRow({ start, end: Math.max(end, start + 1), color: [255, 0, 0] }));
            changed();
          },
        }),
      ),
    );
    state.selection = null;
    const remember = () => {
      const input = $("f-text");
      const [a, b] = [input.selectionStart, input.selectionEnd];
      state.selection = b > a ? [a, b] : state.selection;
    };
    ["select", "keyup", "pointerup"].forEach((name) => $("f-text").addEventListener(name, remember));
  } else if (kind === "Image") {
    const t = data.transform || { x: data.x ?? 0, y: data.y ?? 0, scale: data.scale ?? 1 };
    const anim = data.animation || null;
    fields.append(
      field("Image file", el("input", { id: "f-file", type: "file", accept: "image/*" })),
      el("img", { id: "f-thumb", class: "thumb", alt: "", hidden: !data.image_id,
        src: data.image_id ? `/api/images/${encodeURIComponent(data.image_id)}/thumbnail` : undefined }),
      el("div", { class: "row" },
        field("x", numberInput("f-x", t.x, "1")),
        field("y", numberInput("f-y", t.y, "1")),
        field("scale", numberInput("f-scale", t.scale, "any", "0.01"))),
      el(
        "fieldset",
        {},
        el("legend", { text: "Keyframes (moves the image; two or more)" }),
        el("div", { id: "f-keyframes", class: "rows" }, ...(anim ? anim.keyframes.map(keyframeRow) : [])),
        el("button", {
          type: "button",
          id: "f-add-keyframe",
          text: "+ keyframe",
          onclick: () => {
            const rows = $("f-keyframes").children.length;
            $("f-keyframes").append(
              keyframeRow({ timestamp_ms: rows * 1000, x: Number($("f-x").value) || 0, y: Number($("f-y").value) || 0, scale: 1 }),
            );
            changed();
          },
        }),
        field("Plays (blank: loop)", numberInput("f-iterations", anim && anim.iterations ? anim.iterations : "", "1", "0")),
      ),
    );
    $("f-file").addEventListener("change", upload);
  } else if (kind === "Clock") {
    const format = el("select", { id: "f-format" }, el("option", { value: "24h", text: "24 hour" }),
      el("option", { value: "12h", text: "12 hour" }));
    format.value = data.format;
    fields.append(
      field("Format", format),
      field("Seconds", el("input", { id: "f-seconds", type: "checkbox", checked: data.show_seconds })),
      field("Colour", el("input", { id: "f-color", type: "color", value: hex(data.color) })),
    );
  } else if (kind === "Animation") {
    const preset = el("select", { id: "f-preset" }, ...Object.keys(PRESETS).map((p) => el("option", { text: p })));
    preset.value = data.preset;
    preset.addEventListener("change", () => animationSettings(preset.value, {}));
    fields.append(
      field("Preset", preset),
      el("fieldset", {}, el("legend", { text: "Colours" }), colorList("f-colors", data.colors)),
      el("div", { id: "f-settings", class: "rows" }),
    );
    animationSettings(data.preset, data);
  }
}

async function upload() {
  const file = $("f-file").files[0];
  if (!file) return;
  const form = new FormData();
  form.append("file", file);
  try {
    const answer = await api("POST", "/api/images", form);
    state.image = {
      image_id: answer.image_id,
      natural_width: answer.width,
      natural_height: answer.height,
    };
    const thumb = $("f-thumb");
    thumb.src = `/api/images/${encodeURIComponent(answer.image_id)}/thumbnail`;
    thumb.hidden = false;
    showError(null);
    changed();
  } catch (error) {
    showError(error);
  }
}

const num = (id) => ($(id).value === "" ? null : Number($(id).value));

function readData(kind) {
  if (kind === "Text") {
    const segments = [...document.querySelectorAll("#f-segments .segment")].map((row) => {
      const [start, end] = row.querySelectorAll("input[type=number]");
      const formatting = {
        bold: row.querySelector(".seg-bold").checked,
        underline: row.querySelector(".seg-underline").checked,
        strikethrough: row.querySelector(".seg-strike").checked,
      };
      return {
        start: Number(start.value),
        end: Number(end.value),
        color: row.querySelector(".seg-has-color").checked ? rgb(row.querySelector(".seg-color").value) : null,
        formatting,
      };
    });
    return {
      text: $("f-text").value,
      scroll: $("f-scroll").checked,
      color: rgb($("f-color").value),
      speed: num("f-speed"),
      text_segments: segments.length ? segments : null,
    };
  }
  if (kind === "Image") {
    const keyframes = [...document.querySelectorAll("#f-keyframes .keyframe")].map((row) => {
      const [ms, x, y, scale] = [...row.querySelectorAll("input")].map((i) => Number(i.value));
      return { timestamp_ms: ms, x, y, scale };
    });
    const data = {
      ...(state.image || {}),
      transform: { x: num("f-x"), y: num("f-y"), scale: num("f-scale") },
    };
    if (keyframes.length) data.animation = { keyframes, iterations: num("f-iterations") || null };
    return data;
  }
  if (kind === "Clock") {
    return { format: $("f-format").value, show_seconds: $("f-seconds").checked, color: rgb($("f-color").value) };
  }
  const preset = $("f-preset").value;
  const data = { preset, colors: readColors("f-colors") };
  for (const [name, spec] of Object.entries(PRESETS[preset])) {
    const input = $(`f-set-${name}`);
    data[name] =
      spec.kind === "bool" ? input.checked : spec.kind === "color" ? rgb(input.value) : num(`f-set-${name}`);
  }
  return data;
}

function readBorder() {
  const name = $("border").value;
  if (!name) return { None: null };
  if (name === "Rainbow") return { Rainbow: null };
  return { [name]: { colors: readColors("border-list") } };
}

function draftItem() {
  const kind = state.kind;
  const repeat = document.querySelector("input[name=timing]:checked").value === "repeat";
  return {
    duration: repeat ? null : num("duration"),
    repeat_count: repeat ? num("repeat_count") : null,
    border_effect: readBorder(),
    content: { type: kind, data: { type: kind, ...readData(kind) } },
  };
}

function buildBorder(border) {
  const [name, body] = border ? Object.entries(border)[0] : ["", null];
  $("border").value = name === "None" ? "" : name;
  const box = $("border-colors");
  box.replaceChildren();
  if (["Pulse", "Sparkle", "Gradient"].includes($("border").value)) {
    box.append(colorList("border-list", body && body.colors ? body.colors : [[255, 0, 0], [0, 0, 255]]));
  }
}

function showError(error) {
  const box = $("form-error");
  if (!error) {
    box.hidden = true;
    box.textContent = "";
    return;
  }
  box.textContent = error.field ? `${error.field}: ${error.message}` : error.message;
  box.hidden = false;
}

// ---------------------------------------------------------------- the preview lock

const PLACEHOLDER = {
  duration: 10,
  border_effect: null,
  content: { type: "Text", data: { type: "Text", text: "" } },
};

async function takeLock(item) {
  let answer;
  try {
    answer = await api("POST", "/api/preview", { item });
  } catch (error) {
    if (error.status === 403) throw error;
    answer = await api("POST", "/api/preview", { item: PLACEHOLDER }); // a draft not valid yet
  }
  state.session = answer.session_id;
  applyEditorEvent();
  clearInterval(state.ping);
  state.ping = setInterval(ping, PING_MS);
}

async function ping() {
  if (!state.session) return;
  try {
    await api("POST", "/api/preview/ping", { session_id: state.session });
  } catch (error) {
    if (error.status === 403 || error.status === 404) lostLock();
  }
}

function lostLock() {
  clearInterval(state.ping);
  state.session = null;
  closeForm();
  say("The editor timed out; your unsaved changes are gone.", true);
  renderItems();
}

function releaseLock({ leaving = false } = {}) {
  clearInterval(state.ping);
  clearTimeout(state.previewTimer);
  const session = state.session;
  state.session = null;
  if (!session) return Promise.resolve();
  const init = { session_id: session };
  return api("DELETE", "/api/preview", init, leaving ? { keepalive: true } : {}).catch(() => {});
}

function changed() {
  if (!state.session) return;
  clearTimeout(state.previewTimer);
  state.previewTimer = setTimeout(sendPreview, PREVIEW_DELAY_MS);
}

async function sendPreview() {
  if (!state.session) return;
  if (state.kind === "Image" && !state.image) return; // nothing to show before the upload
  try {
    await api("PUT", "/api/preview", { item: draftItem(), session_id: state.session });
    showError(null);
  } catch (error) {
    if (error.status === 403 || error.status === 404) lostLock();
    else showError(error);
  }
}

// ---------------------------------------------------------------- opening and closing

async function openEditor(itemOrKind) {
  if (state.lockedByOther || state.session) return;
  const existing = typeof itemOrKind === "object" ? itemOrKind : null;
  const kind = existing ? kindOf(existing) : itemOrKind;
  const data = existing ? existing.content.data : DEFAULTS[kind]();
  state.kind = kind;
  state.editingId = existing ? existing.id : null;
  state.image =
    kind === "Image" && data.image_id
      ? { image_id: data.image_id, natural_width: data.natural_width, natural_height: data.natural_height }
      : null;
  buildFields(kind, data);
  const repeat = existing ? existing.duration === null || existing.duration === undefined : false;
  document.querySelector(`input[name=timing][value=${repeat ? "repeat" : "duration"}]`).checked = true;
  $("duration").value = existing && !repeat ? existing.duration : 10;
  $("repeat_count").value = existing && repeat ? existing.repeat_count : 1;
  buildBorder(existing ? existing.border_effect : null);
  showError(null);
  try {
    await takeLock(draftItem());
  } catch (error) {
    if (error.status === 403) setLocked(true);
    else say(`Could not open the editor: ${error.message}`, true);
    return;
  }
  $("editor-title").textContent = existing ? `Edit ${kind.toLowerCase()}` : `New ${kind.toLowerCase()}`;
  $("editor").hidden = false;
  document.body.dataset.editing = "1";
  say("");
  renderItems();
  sendPreview();
  $("editor").scrollIntoView({ block: "nearest" });
}

function closeForm() {
  $("editor").hidden = true;
  $("fields").replaceChildren();
  delete document.body.dataset.editing;
  state.editingId = null;
  state.kind = null;
  state.image = null;
}

async function save(event) {
  event.preventDefault();
  const item = draftItem();
  try {
    if (state.editingId) {
      await api("PUT", `/api/playlist/items/${encodeURIComponent(state.editingId)}`, item);
    } else {
      await api("POST", "/api/playlist/items", item);
    }
  } catch (error) {
    showError(error);
    return;
  }
  await releaseLock();
  closeForm();
  await loadItems();
  say("Saved.");
}

async function cancel() {
  await releaseLock();
  closeForm();
  renderItems();
}

// The lock's events may arrive before our own POST /api/preview has answered with our session.
function applyEditorEvent() {
  const event = state.editorEvent;
  if (!event) return;
  const other = event.locked && event.locked_by !== state.session;
  if (other !== state.lockedByOther) setLocked(other);
}

function setLocked(locked) {
  state.lockedByOther = locked;
  $("locked").hidden = !locked;
  document.body.dataset.locked = locked ? "1" : "";
  renderItems();
}

// ---------------------------------------------------------------- live state from the box

const canvases = new Map();

function drawFrame(f) {
  let entry = canvases.get(f.canvas);
  if (!entry) {
    $("live-waiting").hidden = true;
    const canvas = el("canvas", { "data-canvas": f.canvas });
    $("live").append(el("figure", {}, canvas, el("figcaption", { text: `${f.canvas} · ${f.width}×${f.height}` })));
    entry = { canvas, frames: 0 };
    canvases.set(f.canvas, entry);
  }
  const canvas = entry.canvas;
  if (canvas.width !== f.width || canvas.height !== f.height) {
    canvas.width = f.width;
    canvas.height = f.height;
  }
  const img = new Image();
  img.onload = () => {
    canvas.getContext("2d").drawImage(img, 0, 0);
    entry.frames += 1;
    canvas.dataset.frames = String(entry.frames);
  };
  img.src = `data:image/png;base64,${f.png}`;
}

function setBrightness(value) {
  $("brightness").value = value;
  $("brightness-value").textContent = `${value}%`;
}

function start() {
  enableDragging();
  document.querySelectorAll("[data-add]").forEach((b) =>
    b.addEventListener("click", () => openEditor(b.dataset.add)),
  );
  $("form").addEventListener("submit", save);
  $("form").addEventListener("input", changed);
  $("form").addEventListener("change", changed);
  $("cancel").addEventListener("click", cancel);
  $("border").addEventListener("change", () => buildBorder({ [$("border").value || "None"]: null }));
  $("brightness").addEventListener("input", () => ($("brightness-value").textContent = `${$("brightness").value}%`));
  $("brightness").addEventListener("change", async () => {
    try {
      const answer = await api("PUT", "/api/settings/brightness", { brightness: Number($("brightness").value) });
      setBrightness(answer.brightness);
    } catch (error) {
      say(`Could not set the brightness: ${error.message}`, true);
    }
  });
  window.addEventListener("pagehide", () => releaseLock({ leaving: true }));

  // One connection for everything live: a browser opens only six to a host.
  const events = new EventSource("/api/sign/events");
  const on = (name, handler) => events.addEventListener(name, (e) => handler(JSON.parse(e.data)));
  on("playlist", (event) => {
    state.items = event.items;
    renderItems();
  });
  on("brightness", (event) => setBrightness(event.brightness));
  on("editor", (event) => {
    state.editorEvent = event;
    applyEditorEvent();
    if (!document.body.dataset.ready) document.body.dataset.readyMs = String(Math.round(performance.now()));
    document.body.dataset.ready = "1";
  });
  on("frame", drawFrame);
  loadItems().catch((error) => say(`Could not load the playlist: ${error.message}`, true));
}

start();

// Renders /openapi.json with nothing from the internet: one collapsible entry per operation.
"use strict";

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

function resolve(spec, schema, depth = 0) {
  if (!schema || depth > 6) return schema;
  if (schema.$ref) {
    const name = schema.$ref.split("/").pop();
    return { title: name, ...resolve(spec, spec.components.schemas[name], depth + 1) };
  }
  const out = Array.isArray(schema) ? [] : {};
  for (const [k, v] of Object.entries(schema)) {
    out[k] = typeof v === "object" && v !== null ? resolve(spec, v, depth + 1) : v;
  }
  return out;
}

async function main() {
  const spec = await (await fetch("/openapi.json")).json();
  document.getElementById("title").textContent = `${spec.info.title} ${spec.info.version}`;
  const root = document.getElementById("docs");
  const byTag = new Map();
  for (const [path, ops] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const tag = (op.tags || ["other"])[0];
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push([path, method, op]);
    }
  }
  for (const [tag, ops] of byTag) {
    root.appendChild(el("h2", tag, "tag"));
    for (const [path, method, op] of ops) {
      const box = el("details", undefined, "op");
      const head = el("summary");
      head.appendChild(el("span", method.toUpperCase(), "method"));
      head.appendChild(el("span", path, "path"));
      head.appendChild(el("span", ` — ${op.summary}`));
      box.appendChild(head);
      if (op.parameters) {
        box.appendChild(el("h3", "Parameters"));
        box.appendChild(el("pre", op.parameters.map((p) => `${p.in} ${p.name}`).join("\n")));
      }
      if (op.requestBody) {
        box.appendChild(el("h3", "Request body"));
        const schema = Object.values(op.requestBody.content)[0].schema;
        box.appendChild(el("pre", JSON.stringify(resolve(spec, schema), null, 2)));
      }
      box.appendChild(el("h3", "Responses"));
      for (const [code, r] of Object.entries(op.responses)) {
        const content = r.content ? Object.entries(r.content)[0] : null;
        const body = content ? JSON.stringify(resolve(spec, content[1].schema), null, 2) : "";
        box.appendChild(el("pre", `${code} ${r.description}${content ? ` (${content[0]})` : ""}\n${body}`));
      }
      root.appendChild(box);
    }
  }
}

main();

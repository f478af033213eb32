// The anatomy page: one request for the whole picture, one per selected position for its
// attention rows, logits and embedding (cached), and the softmax panel computed here with
// the arithmetic of lmcore/sampling.py (docs/architecture.md, "Anatomy").

import { spacedHex } from "./live.js";

const root = document.getElementById("anatomy");
const $ = (sel) => root.querySelector(sel);
const field = (name) => $(`[data-field="${name}"]`);
const csrf = () => root.querySelector("[name=csrfmiddlewaretoken]").value;
const ROLE_NAMES = {
  previous: ["P", "previous token", "reads the token just before"],
  first: ["F", "first token", "reads the first token"],
  duplicate: ["D", "duplicate", "reads earlier copies of the current token"],
  induction: ["I", "induction", "reads the token that followed an earlier copy of the current token"],
};
const FETCH_DELAY_MS = 150;
const state = { data: null, request: null, position: 0, focus: new Map(), head: null };

const fmt = (x, digits = 4) => (x === null || x === undefined ? "–" : x.toFixed(digits));
// Whitespace made visible, so a token like " the" or "\n" can be told apart.
const show = (t) => t.replace(/ /g, "·").replace(/\n/g, "↵").replace(/\t/g, "⇥") || "∅";
const tokenText = (id, focus) => show((focus && focus.vocab[String(id)]) ?? state.data.vocab[String(id)] ?? `#${id}`);

async function post(url, body) {
  const response = await fetch(url, {
    method: "POST", body: JSON.stringify(body),
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
  });
  const data = await response.json().catch(() => ({ error: `the server answered ${response.status}` }));
  if (!response.ok) throw new Error(data.error || `the server answered ${response.status}`);
  return data;
}

function setError(message) {
  field("error").textContent = message || "";
  field("error").hidden = !message;
}

async function inspect(event) {
  event.preventDefault();
  const form = $("[data-role=form]");
  const request = { model_version: Number(form.model_version.value), text: form.text.value };
  const button = form.querySelector("button");
  if (button.getAttribute("aria-disabled") === "true") return; // one request at a time
  setError("");
  field("status").textContent = "Running the model…";
  button.setAttribute("aria-disabled", "true"); // not `disabled`: the focus stays on it
  try {
    const data = await post(root.dataset.inspectUrl, request);
    Object.assign(state, { data, request, focus: new Map([[data.focus.position, data.focus]]), head: null });
    renderAll();
    field("status").textContent = "";
  } catch (error) {
    setError(error.message);
    field("status").textContent = "";
  } finally {
    button.removeAttribute("aria-disabled");
  }
}

function renderAll() {
  const { data } = state;
  $("[data-role=result]").hidden = false;
  const n = data.tokens.length;
  field("tokens-intro").textContent = `The tokenizer cut your text into ${n} token${n === 1 ? "" : "s"} (the small number is each token's id in the vocabulary of ${data.model.vocab_size.toLocaleString()}). ` +
    `The model has ${data.model.n_layer} blocks of ${data.model.n_head} attention heads, ${data.model.d_model} numbers per token. Colour: the loss of each token (section 6); click one, or use ← → Home End.`;
  renderTokens();
  renderMap();
  renderLegend();
  renderLoss();
  $("[data-role=head]").hidden = true;
  select(data.focus.position, false);
}

// --- 1. tokens ------------------------------------------------------------------------
function renderTokens() {
  const box = $("[data-role=tokens]");
  const max = Math.max(1e-9, ...state.data.tokens.map((t) => t.loss ?? 0));
  box.replaceChildren(...state.data.tokens.map((t, i) => {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "an-token" + (t.special ? " special" : "");
    b.setAttribute("role", "option");
    b.dataset.position = i;
    b.tabIndex = -1;
    b.style.setProperty("--heat", t.loss === null ? 0 : (t.loss / max).toFixed(3));
    b.title = `position ${i} · id ${t.id} · bytes ${spacedHex(t.bytes)}` + (t.loss === null ? " · not scored" : ` · loss ${fmt(t.loss, 3)} nats`);
    b.innerHTML = `<span class="an-tt"></span><sub>${t.id}</sub>`;
    b.firstChild.textContent = show(t.text);
    b.addEventListener("click", () => select(i));
    return b;
  }));
}

function onTokenKey(event) {
  const n = state.data.tokens.length;
  const moves = { ArrowLeft: -1, ArrowRight: 1, Home: -Infinity, End: Infinity };
  if (!(event.key in moves)) return;
  event.preventDefault();
  select(Math.min(n - 1, Math.max(0, state.position + moves[event.key])), true);
}

async function select(position, focusButton = false) {
  state.position = position;
  const { data } = state;
  root.querySelectorAll(".an-token").forEach((b, i) => {
    b.setAttribute("aria-selected", String(i === position));
    b.tabIndex = i === position ? 0 : -1;
  });
  const button = root.querySelector(`.an-token[data-position="${position}"]`);
  if (focusButton) button.focus();
  button.scrollIntoView({ block: "nearest", inline: "nearest" });
  const tok = data.tokens[position], next = data.tokens[position + 1];
  field("selected").textContent = `Position ${position}: “${show(tok.text)}” (id ${tok.id}). ` + (next
    ? `The token that really comes next is “${show(next.text)}” (id ${next.id}).`
    : "It is the last token: what comes next is the model's guess.");
  renderLens();
  renderNeighbours();
  drawMap();
  highlightLoss();
  let focus = state.focus.get(position);
  if (!focus) {
    field("status").textContent = "Fetching this position's attention and probabilities…";
    root.classList.add("an-loading"); // panels still showing the previous position fade
    // Holding an arrow key moves through many positions: ask only for the one it stops on.
    await new Promise((resolve) => setTimeout(resolve, FETCH_DELAY_MS));
    if (state.position !== position) return;
    try {
      focus = await post(root.dataset.focusUrl, { ...state.request, position });
    } catch (error) {
      setError(error.message);
      return;
    }
    state.focus.set(position, focus);
    field("status").textContent = "";
    if (state.position !== position) return; // the selection moved on meanwhile
  }
  setError("");
  root.classList.remove("an-loading");
  renderVector(focus);
  renderHeads(focus);
  renderSoftmax();
}

// --- 2. embeddings ----------------------------------------------------------------------
function renderVector(focus) {
  const canvas = $("[data-role=vector]"), v = focus.embedding;
  canvas.width = v.length;
  const ctx = canvas.getContext("2d"), max = Math.max(...v.map(Math.abs), 1e-9);
  v.forEach((x, i) => { ctx.fillStyle = diverging(x / max); ctx.fillRect(i, 0, 1, 1); });
  const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  field("vector").textContent = `${v.length} numbers (blue negative, red positive, largest |x| = ${fmt(max, 3)}; length ${fmt(norm, 2)}): the embedding row of id ${state.data.tokens[focus.position].id} as block 1 receives it.`;
}

function diverging(t) { // -1 blue … 0 white … 1 red
  const a = Math.round(255 * (1 - Math.abs(t)));
  return t < 0 ? `rgb(${a},${a},255)` : `rgb(255,${a},${a})`;
}

let mapView = null;
function renderMap() {
  const e = state.data.embeddings, pts = [...e.map_xy, ...e.tokens_xy];
  const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
  mapView = { x0: Math.min(...xs), x1: Math.max(...xs), y0: Math.min(...ys), y1: Math.max(...ys) };
  const [a, b] = e.explained.map((r) => (100 * r).toFixed(1));
  field("map").textContent = `Every ${e.map_ids.length < state.data.model.vocab_size ? "sampled " : ""}vocabulary token (grey) on the two directions along which the embeddings vary most (principal components: ${a}% and ${b}% of the variance). Blue: the prompt's tokens; red: the selected one; orange: its nearest neighbours.`;
}

function drawMap() {
  const canvas = $("[data-role=map]"), ctx = canvas.getContext("2d"), e = state.data.embeddings;
  const { width: W, height: H } = canvas, pad = 14, v = mapView;
  const at = ([x, y]) => [pad + (x - v.x0) / (v.x1 - v.x0 || 1) * (W - 2 * pad), H - pad - (y - v.y0) / (v.y1 - v.y0 || 1) * (H - 2 * pad)];
  ctx.clearRect(0, 0, W, H);
  const dot = (p, r, color) => { const [x, y] = at(p); ctx.fillStyle = color; ctx.beginPath(); ctx.arc(x, y, r, 0, 7); ctx.fill(); return [x, y]; };
  const label = (p, text, color) => { const [x, y] = at(p); ctx.fillStyle = color; ctx.font = "12px ui-monospace, monospace"; ctx.fillText(text, x + 5, y - 4); };
  e.map_xy.forEach((p) => dot(p, 1.2, "#c8c8c8"));
  e.tokens_xy.forEach((p) => dot(p, 3, "#3b6fb6"));
  const id = state.data.tokens[state.position].id;
  const index = new Map(e.map_ids.map((v, i) => [v, i]));
  for (const [n] of e.neighbours[String(id)] || []) {
    if (index.has(n)) { dot(e.map_xy[index.get(n)], 4, "#e08a1e"); label(e.map_xy[index.get(n)], tokenText(n), "#9a5a06"); }
  }
  const p = e.tokens_xy[state.position];
  dot(p, 6, "#c0392b");
  label(p, show(state.data.tokens[state.position].text), "#c0392b");
}

function renderNeighbours() {
  const id = state.data.tokens[state.position].id;
  const rows = state.data.embeddings.neighbours[String(id)] || [];
  $("[data-role=neighbours]").replaceChildren(...rows.map(([n, cos]) => {
    const li = document.createElement("li");
    li.innerHTML = `<code></code> <span class="hint">id ${n} · cosine ${fmt(cos, 3)}</span>`;
    li.firstChild.textContent = tokenText(n);
    return li;
  }));
}

// --- 3. attention -----------------------------------------------------------------------
function renderLegend() {
  $("[data-role=roles-legend]").textContent = "Letters mark what a head mostly does over the whole prompt (mean attention ≥ 0.4): " +
    Object.values(ROLE_NAMES).map(([k, name, what]) => `${k} = ${name} (${what})`).join("; ") + ".";
}

function renderHeads(focus) {
  const grid = $("[data-role=heads]"), { n_layer: L, n_head: H } = state.data.model;
  const rows = [];
  for (let l = 0; l < L; l++) {
    const row = document.createElement("div");
    row.setAttribute("role", "row");
    row.innerHTML = `<span class="an-layer" role="rowheader">block ${l + 1}</span>`;
    for (let h = 0; h < H; h++) {
      const role = state.data.heads.roles[l][h];
      const cell = document.createElement("button");
      cell.type = "button";
      cell.className = "an-cell";
      cell.setAttribute("role", "gridcell");
      Object.assign(cell.dataset, { layer: l, head: h });
      cell.tabIndex = (state.head ? state.head[0] === l && state.head[1] === h : l === 0 && h === 0) ? 0 : -1;
      cell.setAttribute("aria-label", `block ${l + 1} head ${h + 1}` + (role ? `, ${ROLE_NAMES[role][1]} head` : ""));
      cell.innerHTML = `<canvas height="1"></canvas><span>${h + 1}${role ? " " + ROLE_NAMES[role][0] : ""}</span>`;
      const w = focus.attention[l][h], canvas = cell.firstChild, ctx = canvas.getContext("2d");
      canvas.width = w.length;
      w.forEach((x, i) => { const a = Math.round(255 * (1 - Math.sqrt(x))); ctx.fillStyle = `rgb(${a},${a},${Math.min(255, a + 40)})`; ctx.fillRect(i, 0, 1, 1); });
      cell.addEventListener("click", () => openHead(l, h));
      row.append(cell);
    }
    rows.push(row);
  }
  grid.replaceChildren(...rows);
  if (state.head) openHead(...state.head, false);
}

function onGridKey(event) {
  const cell = event.target.closest(".an-cell");
  const moves = { ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], ArrowDown: [1, 0] };
  if (!cell || !(event.key in moves)) return;
  event.preventDefault();
  const { n_layer: L, n_head: H } = state.data.model;
  const l = Math.min(L - 1, Math.max(0, Number(cell.dataset.layer) + moves[event.key][0]));
  const h = Math.min(H - 1, Math.max(0, Number(cell.dataset.head) + moves[event.key][1]));
  const next = root.querySelector(`.an-cell[data-layer="${l}"][data-head="${h}"]`);
  root.querySelectorAll(".an-cell").forEach((c) => { c.tabIndex = c === next ? 0 : -1; });
  next.focus();
}

function openHead(l, h, moveFocus = true) {
  state.head = [l, h];
  const focus = state.focus.get(state.position), w = focus.attention[l][h], panel = $("[data-role=head]");
  const tok = state.data.tokens[state.position];
  field("head-title").textContent = `Block ${l + 1}, head ${h + 1}: what position ${state.position} (“${show(tok.text)}”) reads`;
  const s = state.data.heads;
  field("head-summary").textContent = "Over the whole prompt this head gives, on average: " + Object.entries(ROLE_NAMES)
    .map(([key, [, name]]) => `${name} ${s[key] ? fmt(s[key][l][h], 2) : "n/a (no repeated token)"}`).join(" · ") + ".";
  const top = [...w].sort((a, b) => b - a)[Math.min(2, w.length - 1)];
  $("[data-role=head-bars]").replaceChildren(...w.map((x, i) => {
    const li = document.createElement("li");
    li.className = x >= top && x > 0.05 ? "strong" : "";
    li.innerHTML = `<code></code><span class="an-bar"><span style="width:${(100 * x).toFixed(1)}%"></span></span><span class="an-val">${fmt(x)}</span>`;
    li.firstChild.textContent = `${i} ${show(state.data.tokens[i].text)}`;
    return li;
  }));
  panel.hidden = false;
  root.querySelectorAll(".an-cell").forEach((c) => c.setAttribute("aria-pressed", String(c.dataset.layer == l && c.dataset.head == h)));
  if (moveFocus) panel.focus();
}

function closeHead() {
  const cell = state.head && root.querySelector(`.an-cell[data-layer="${state.head[0]}"][data-head="${state.head[1]}"]`);
  state.head = null;
  $("[data-role=head]").hidden = true;
  root.querySelectorAll(".an-cell").forEach((c) => c.setAttribute("aria-pressed", "false"));
  if (cell) cell.focus();
}

// --- 4. logit lens ----------------------------------------------------------------------
function renderLens() {
  const at = state.data.lens[state.position], next = state.data.tokens[state.position + 1];
  $("[data-role=lens] tbody").replaceChildren(...state.data.layers.map((name, l) => {
    const tr = document.createElement("tr");
    tr.dataset.layer = l;
    if (l === state.data.layers.length - 1) tr.className = "final";
    tr.innerHTML = `<th scope="row">${name}${l === state.data.layers.length - 1 ? " (output)" : ""}</th>` + at.top[l].map((id, k) =>
      `<td class="${next && id === next.id ? "hit" : ""}"><code></code> <span class="an-val">${fmt(at.p[l][k])}</span></td>`).join("") +
      `<td class="an-val" data-field="rank">${at.next_rank ? `${at.next_rank[l]} · ${fmt(at.next_p[l])}` : "–"}</td>`;
    tr.querySelectorAll("code").forEach((c, k) => { c.textContent = tokenText(at.top[l][k]); });
    return tr;
  }));
}

// --- 5. softmax -------------------------------------------------------------------------
// lmcore/sampling.py's BatchSampler: temperature 0 keeps the argmax only; otherwise logits / T,
// top-k keeps ranks < k, then over the top-k softmax a token stays while the mass of the more
// likely ones is < p (or p >= 1), and the most likely always stays.
function sampling(logits, { temperature, topK, topP }) {
  const V = logits.length;
  const order = [...logits.keys()].sort((a, b) => logits[b] - logits[a] || a - b);
  const kept = new Uint8Array(V), byK = new Uint8Array(V), byP = new Uint8Array(V);
  let atT;
  if (temperature === 0) {
    kept[order[0]] = byK[order[0]] = byP[order[0]] = 1;
    atT = Array.from(kept);
  } else {
    atT = softmax(logits.map((x) => x / temperature));
    const k = topK > 0 ? Math.min(topK, V) : V;
    let total = 0;
    for (let r = 0; r < k; r++) total += Math.exp(logits[order[r]] / temperature - logits[order[0]] / temperature);
    let before = 0;
    for (let r = 0; r < V; r++) {
      const id = order[r];
      byK[id] = r < k ? 1 : 0;
      if (!byK[id]) continue;
      const p = Math.exp(logits[id] / temperature - logits[order[0]] / temperature) / total;
      byP[id] = r === 0 || topP >= 1 || before < topP ? 1 : 0;
      kept[id] = byP[id];
      before += p;
    }
  }
  const sampled = softmax(logits.map((x, i) => (kept[i] ? (temperature === 0 ? 0 : x / temperature) : -Infinity)));
  return { order, atT, sampled, kept, byK, byP, survivors: kept.reduce((s, x) => s + x, 0) };
}

function softmax(x) {
  const m = Math.max(...x);
  const e = x.map((v) => (v === -Infinity ? 0 : Math.exp(v - m)));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

const entropy = (p) => -p.reduce((s, x) => s + (x > 0 ? x * Math.log(x) : 0), 0);

function renderSoftmax() {
  const focus = state.focus.get(state.position);
  if (!focus) return;
  const temperature = Number($("[data-role=temperature]").value);
  const topK = Math.max(0, Math.floor(Number($("[data-role=top-k]").value) || 0));
  const topP = Math.min(1, Math.max(0.01, Number($("[data-role=top-p]").value) || 1));
  field("temperature").textContent = temperature === 0 ? "0 (greedy)" : temperature.toFixed(2);
  const s = sampling(focus.logits, { temperature, topK, topP }), model = softmax(focus.logits);
  const next = state.data.tokens[state.position + 1];
  $("[data-stat=survivors]").textContent = `${s.survivors.toLocaleString()} of ${focus.logits.length.toLocaleString()}`;
  const h = (p) => { const e = entropy(p); return `${fmt(e, 3)} · ${fmt(e / Math.LN2, 3)}`; };
  $("[data-stat=entropy-model]").textContent = h(model);
  $("[data-stat=entropy-sampled]").textContent = h(s.sampled);
  const shown = Math.min(20, focus.logits.length);
  $("[data-role=softmax] tbody").replaceChildren(...s.order.slice(0, shown).map((id, r) => {
    const tr = document.createElement("tr");
    tr.className = (s.kept[id] ? "kept" : "dropped") + (next && id === next.id ? " hit" : "");
    tr.innerHTML = `<td>${r + 1}</td><td><code></code></td><td class="an-val">${fmt(focus.logits[id], 3)}</td><td class="an-val">${fmt(model[id])}</td>` +
      `<td class="an-val">${fmt(s.atT[id])}</td><td>${s.byK[id] ? "✓" : "✗"}</td><td>${s.byK[id] ? (s.byP[id] ? "✓" : "✗") : ""}</td><td class="an-val">${fmt(s.sampled[id])}</td>`;
    tr.querySelector("code").textContent = tokenText(id, focus);
    return tr;
  }));
  const rest = s.survivors - s.order.slice(0, shown).filter((id) => s.kept[id]).length;
  field("softmax-more").textContent = `The ${shown} highest logits are shown` + (rest > 0 ? `; ${rest.toLocaleString()} more tokens survive below them.` : ".") +
    (next && s.order.slice(0, shown).includes(next.id) ? " Highlighted: the token that really comes next." : "");
}

// --- 6. loss ----------------------------------------------------------------------------
function renderLoss() {
  const svg = $("[data-role=loss]"), t = state.data.tokens, n = t.length;
  const max = Math.max(1e-9, ...t.map((x) => x.loss ?? 0)), W = Math.max(300, n * 6), H = 90;
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("preserveAspectRatio", "none"); // bars span the width, whatever the count
  svg.dataset.max = fmt(max, 3);
  svg.innerHTML = t.map((x, i) => x.loss === null ? "" :
    `<rect data-position="${i}" x="${(i * W) / n}" width="${Math.max(1, W / n - 1)}" y="${H - (x.loss / max) * H}" height="${(x.loss / max) * H}"><title>${i}: loss ${fmt(x.loss, 3)} nats</title></rect>`).join("");
  svg.querySelectorAll("rect").forEach((r) => r.addEventListener("click", () => select(Number(r.dataset.position) - 1 >= 0 ? Number(r.dataset.position) - 1 : 0)));
}

function highlightLoss() {
  const { loss } = state.data, next = state.data.tokens[state.position + 1];
  $("[data-role=loss]").querySelectorAll("rect").forEach((r) => r.classList.toggle("selected", Number(r.dataset.position) === state.position + 1));
  const mean = loss.mean === null ? "no token scored" : `${fmt(loss.mean, 3)} nats = ${fmt(loss.mean / Math.LN2, 3)} bits per token, over ${loss.scored} scored tokens`;
  field("loss").textContent = `One bar per token, left to right; the tallest is ${$("[data-role=loss]").dataset.max} nats. Mean loss ${mean}. ` + (next
    ? `Here the model gave the next token “${show(next.text)}” p = ${fmt(Math.exp(-next.loss))}, a loss of ${fmt(next.loss, 3)} nats (highlighted bar).`
    : "The selected token is the last: nothing after it to score.");
}

// --- wiring -----------------------------------------------------------------------------
if (root) {
  $("[data-role=form]").addEventListener("submit", inspect);
  $("[data-role=tokens]").addEventListener("keydown", onTokenKey);
  $("[data-role=heads]").addEventListener("keydown", onGridKey);
  $("[data-action=close-head]").addEventListener("click", closeHead);
  $("[data-role=head]").addEventListener("keydown", (e) => { if (e.key === "Escape") closeHead(); });
  for (const role of ["temperature", "top-k", "top-p"]) $(`[data-role=${role}]`).addEventListener("input", renderSoftmax);
  // A link with a prompt (or the form sent before this script ran): the page holds it; look inside.
  if ("asked" in root.dataset) $("[data-role=form]").requestSubmit();
}

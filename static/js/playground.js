// The playground page: one websocket (/ws/playground/, protocol in webapp/playground/consumers.py),
// completion / chat / score modes, tokens coloured by probability, an inspector with the
// top alternatives (click one to branch), Stop, side by side, resume after a reconnect, and
// saved conversations (conversations.js): each completed answer is saved; reopen restores it.
// Keyboard: an answer is one tab stop; arrows move between its tokens, each of which opens the
// inspector; Enter moves into the inspector's alternatives, Esc goes back.
import { Conversations } from "./conversations.js";

const root = document.getElementById("playground");
const $ = (sel, el = root) => el.querySelector(sel);
const $$ = (sel, el = root) => [...el.querySelectorAll(sel)];
const ACTIVE_KEY = "playground.active";
let socket = null;
let active = null; // the answer being received: {rid, lastId, titles, promptText, columns, sent}
let columns = []; // the answer on screen (kept after it ends): [{el, title, tokens, done, stats, reason, tail}]
let chat = []; // [{role, content}] of the current conversation (kept in the page)
const scoreJobs = {}; // request_id -> {label, el}

const newId = () => (crypto.randomUUID ? crypto.randomUUID() : `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`);
const mode = () => $("input[name=mode]:checked").value;
const prob = (lp) => (lp === null || lp === undefined ? null : Math.exp(lp));
const pct = (p) => (p === null ? "–" : p >= 0.001 ? `${(p * 100).toFixed(1)} %` : `${(p * 100).toExponential(1)} %`);
const num = (x, digits = 3) => (x === null || x === undefined ? "–" : Number(x).toFixed(digits));
const colour = (p) => (p === null ? "transparent" : `hsl(${Math.round(120 * p)} 70% 85%)`);

// What the request is waiting for, until its first token: the worker, a queue, a model load.
function progress(text) { $("[data-field=progress]").textContent = text; }

function say(text) {
  const el = $("[data-field=error]");
  el.textContent = text;
  el.hidden = !text;
}

// --- the socket --------------------------------------------------------------------------
function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/ws/playground/`);
  socket.addEventListener("open", () => {
    $("[data-field=connection]").textContent = "Connected.";
    if (active) send({ type: "resume", request_id: active.rid, last_id: active.lastId });
  });
  socket.addEventListener("message", (event) => onMessage(JSON.parse(event.data)));
  socket.addEventListener("close", () => {
    $("[data-field=connection]").textContent = "Disconnected; reconnecting…";
    setTimeout(connect, 1500);
  });
}

function send(message) {
  if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  else say("Not connected yet; try again in a moment.");
}

function onMessage(m) {
  if (scoreJobs[m.request_id]) return onScoreMessage(m);
  if (!active || m.request_id !== active.rid) {
    if (m.type === "error") say(m.message);
    return;
  }
  if (m.last_id) { active.lastId = m.last_id; remember(); }
  if (m.type === "queued") progress(m.position ? `Queued: position ${m.position}…` : "Queued…");
  else if (m.type === "loading") progress("Loading the model…");
  else if (m.type === "started") progress("Preparing…");
  else if (m.type === "tokens") progress("Generating…");
  if (m.type === "tokens") m.tokens.forEach((t) => addToken(active.columns[m.stream], t));
  else if (m.type === "done") finishColumn(active.columns[m.stream], m);
  else if (m.type === "error") { say(m.message); finish(); }
}

// --- generation --------------------------------------------------------------------------
function readParams() {
  const f = $("[data-role=controls]");
  const value = (name) => f.elements[name].value.trim();
  const params = {
    temperature: Number(value("temperature")), top_k: Number(value("top_k")),
    top_p: Number(value("top_p")), repetition_penalty: Number(value("repetition_penalty")),
    max_new_tokens: Number(value("max_new_tokens")), top_logprobs: Number(value("top_logprobs")),
    stop: value("stop") ? value("stop").split("\n").filter((s) => s) : [],
  };
  if (value("seed") !== "") params.seed = Number(value("seed"));
  return params;
}

function optionLabel(select) { return select.options[select.selectedIndex]?.textContent ?? ""; }

function start({ prefix = null } = {}) {
  if (active) return;
  say("");
  const f = $("[data-role=controls]");
  const message = { type: "generate", request_id: newId(), model_version: Number(f.elements.model_version.value),
                    params: readParams(), prompt: "" };
  const titles = [optionLabel(f.elements.model_version)];
  let promptText = "";
  if (mode() === "chat" && !isChatVersion()) {
    return say("This version has not been fine-tuned for chat: use Complete, or fine-tune it first.");
  }
  if (mode() === "chat") {
    const text = $("#pg-message").value;
    if (!prefix) { chat.push({ role: "user", content: text }); $("#pg-message").value = ""; renderChat(); }
    message.chat = chat.slice();
  } else {
    message.prompt = promptText = $("#pg-prompt").value;
    if (!prefix && f.elements.compare.value) {
      message.compare = Number(f.elements.compare.value);
      titles.push(optionLabel(f.elements.compare));
    }
  }
  if (prefix) message.prefix_ids = prefix.map((t) => t.id);
  begin(message.request_id, titles, promptText, prefix || [], { model_version: message.model_version, params: message.params });
  send(message);
}

function drawColumns(titles, promptText) {
  const box = $("[data-role=columns]");
  box.replaceChildren();
  columns = titles.map((title) => {
    const el = $("#pg-column", document).content.firstElementChild.cloneNode(true);
    $(".pg-column-title", el).textContent = title;
    $(".pg-prompt-text", el).textContent = promptText;
    box.append(el);
    return { el, title, tokens: [], done: false, stats: {}, reason: "", tail: "" };
  });
}

function begin(rid, titles, promptText, prefix, sent = null) {
  drawColumns(titles, promptText);
  active = { rid, lastId: "0-0", titles, promptText, columns, sent };
  prefix.forEach((t) => addToken(active.columns[0], t));
  progress(sent ? "Waiting for the inference worker…" : "Reconnecting to the answer…");
  const keyboard = document.activeElement;
  $("[data-action=generate]").disabled = true;
  $("[data-action=stop]").disabled = false;
  // A disabled button drops focus: a keyboard user who generated or branched lands on Stop.
  if (keyboard === $("[data-action=generate]") || inspector.contains(keyboard)) $("[data-action=stop]").focus();
  remember();
}

function remember() {
  if (!active) { sessionStorage.removeItem(ACTIVE_KEY); return; }
  const { rid, titles, promptText } = active;
  sessionStorage.setItem(ACTIVE_KEY, JSON.stringify({ rid, titles, promptText, conversation: conversations.current }));
}

function addToken(column, t) {
  const span = document.createElement("span");
  span.className = "pg-token";
  span.textContent = t.text;
  span.style.background = colour(prob(t.logprob));
  span.dataset.index = column.tokens.length;
  span.tabIndex = column.tokens.length === 0 ? 0 : -1; // one tab stop per answer (roving)
  span.setAttribute("role", "button");
  span.setAttribute("aria-controls", "pg-inspector");
  if (!t.text.trim()) span.setAttribute("aria-label", JSON.stringify(t.text)); // "\n", " ": say it
  column.tokens.push(t);
  $(".pg-out", column.el).append(span);
}

function showEnd(column, m) {
  if (m.text) $(".pg-out", column.el).append(document.createTextNode(m.text));
  for (const [key, value] of Object.entries(m.stats || {})) {
    const dd = $(`[data-stat=${key}]`, column.el);
    if (dd) dd.textContent = key === "seed" ? String(value) : num(value, key === "tokens" ? 0 : 1);
  }
  $("[data-stat=reason]", column.el).textContent = m.reason;
  Object.assign(column, { done: true, stats: m.stats || {}, reason: m.reason, tail: m.text || "" });
}

const columnText = (c) => c.tokens.map((t) => t.text).join("") + c.tail;

function finishColumn(column, m) {
  showEnd(column, m);
  if (!active.columns.every((c) => c.done)) return;
  if (mode() === "chat") {
    chat.push({ role: "assistant", content: columnText(active.columns[0]) });
    renderChat();
  }
  const answer = snapshot(active);
  finish();
  conversations.save(answer);
}

// What a saved conversation holds (webapp/playground/models.py has the shape).
function snapshot({ promptText, sent }) {
  const f = $("[data-role=controls]");
  const { model_version, params } = sent ?? { model_version: Number(f.elements.model_version.value), params: readParams() };
  if (mode() === "chat") return { mode: "chat", model_version, params, messages: chat.slice() };
  const answers = columns.map((c) => ({ role: "completion", title: c.title, content: columnText(c), tokens: c.tokens, stats: c.stats, reason: c.reason }));
  return { mode: "completion", model_version, params, messages: [{ role: "prompt", content: promptText }, ...answers] };
}

function reopen(c) {
  if (active) { say("Stop the answer (or wait for it) before opening another conversation."); return false; }
  const f = $("[data-role=controls]");
  $(`input[name=mode][value=${c.mode === "chat" ? "chat" : "complete"}]`).checked = true;
  showMode();
  const known = [...f.elements.model_version.options].some((o) => Number(o.value) === c.model_version);
  if (known) f.elements.model_version.value = String(c.model_version);
  say(known ? "" : "This conversation's model version is gone or no longer shared with you; choose another to continue.");
  const p = c.params;
  for (const name of ["temperature", "top_k", "top_p", "repetition_penalty", "max_new_tokens", "top_logprobs"]) {
    if (p[name] !== undefined) f.elements[name].value = p[name];
  }
  f.elements.seed.value = p.seed ?? "";
  f.elements.stop.value = (p.stop || []).join("\n");
  chat = c.mode === "chat" ? c.messages.slice() : [];
  renderChat();
  const [prompt, ...answers] = c.mode === "chat" ? [{ content: "" }] : c.messages;
  $("#pg-prompt").value = prompt.content;
  drawColumns(answers.map((a) => a.title), prompt.content);
  answers.forEach((a, i) => {
    a.tokens.forEach((t) => addToken(columns[i], t));
    const tail = a.content.slice(columnText(columns[i]).length); // text kept without tokens
    showEnd(columns[i], { ...a, text: tail });
  });
  return true;
}

function clearPage() {
  chat = [];
  renderChat();
  drawColumns([], "");
  $("#pg-prompt").value = "";
  $("#pg-message").value = "";
}

function finish() {
  active = null;
  remember();
  progress("");
  const wasOnStop = document.activeElement === $("[data-action=stop]");
  $("[data-action=generate]").disabled = false;
  $("[data-action=stop]").disabled = true;
  if (wasOnStop) $("[data-action=generate]").focus();
}

function renderChat() {
  $("[data-role=chat]").replaceChildren(...chat.map((m) => {
    const li = document.createElement("li");
    li.className = `pg-msg ${m.role}`;
    li.textContent = m.content;
    return li;
  }));
}

// --- the inspector: bytes, probabilities, alternatives; click one to branch ---------------
const inspector = $("[data-role=inspector]");
let hideTimer = null;

function showInspector(span) {
  const columnEl = span.closest(".pg-column");
  const column = columns.find((c) => c.el === columnEl);
  if (!column) return;
  const index = Number(span.dataset.index);
  const t = column.tokens[index];
  const rows = t.top.map((alt, j) => `<tr><td><button type="button" class="link" data-alt="${j}" title="Cut the text here, force this token, and continue">${escape(JSON.stringify(alt.text))}</button></td><td>${pct(prob(alt.logprob))}</td><td>${pct(prob(alt.sample_logprob))}</td></tr>`).join("");
  inspector.innerHTML = `
    <p><strong>${escape(JSON.stringify(t.text))}</strong> · id ${t.id} · bytes <code title="The token's raw bytes in hexadecimal">${t.bytes}</code></p>
    <dl class="stats"><div><dt title="logprob: ln p of this token under the model's own distribution (temperature 1, no top-k/top-p), as a probability">p (model)</dt><dd>${pct(prob(t.logprob))}</dd></div>
    <div><dt title="sample_logprob: ln p under the distribution actually sampled from (after temperature, top-k, top-p, repetition penalty)">p (sampled)</dt><dd>${pct(prob(t.sample_logprob))}</dd></div>
    <div><dt title="logprob: natural log of p (model), in nats">log p (nats)</dt><dd>${num(t.logprob)}</dd></div></dl>
    ${rows ? `<table><thead><tr><th>Alternative</th><th title="p under the model (temperature 1, unfiltered)">p (model)</th><th title="p under the sampled distribution; – = filtered out">p (sampled)</th></tr></thead><tbody>${rows}</tbody></table>` : "<p class=hint>Set “Alternatives per token” above 0 to see them.</p>"}`;
  inspector.onclick = (event) => {
    const button = event.target.closest("[data-alt]");
    if (!button || active) return;
    const alt = t.top[Number(button.dataset.alt)];
    const forced = { ...alt, bytes: "", sample_logprob: alt.sample_logprob, top: [] };
    inspector.hidden = true;
    start({ prefix: [...column.tokens.slice(0, index), forced] });
  };
  const box = span.getBoundingClientRect();
  inspector.style.left = `${window.scrollX + box.left}px`;
  inspector.style.top = `${window.scrollY + box.bottom + 4}px`;
  inspector.hidden = false;
}

function escape(text) {
  return text.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
}

const columnsBox = $("[data-role=columns]");
let shownFor = null; // the token span the inspector describes

function hideInspector({ refocus = false } = {}) {
  inspector.hidden = true;
  if (refocus && shownFor?.isConnected) shownFor.focus();
}

function focusToken(span) {
  for (const other of $$(".pg-token[tabindex='0']", span.closest(".pg-out"))) other.tabIndex = -1;
  span.tabIndex = 0;
  span.focus();
}

columnsBox.addEventListener("mouseover", (event) => {
  const span = event.target.closest(".pg-token");
  if (!span) return;
  clearTimeout(hideTimer);
  showInspector(span);
  shownFor = span;
});
columnsBox.addEventListener("mouseout", () => {
  hideTimer = setTimeout(() => {
    const focus = document.activeElement;
    if (!inspector.contains(focus) && !focus?.classList.contains("pg-token")) inspector.hidden = true;
  }, 400);
});
columnsBox.addEventListener("focusin", (event) => {
  const span = event.target.closest(".pg-token");
  if (!span) return;
  clearTimeout(hideTimer);
  showInspector(span);
  shownFor = span;
});
columnsBox.addEventListener("click", (event) => { // touch: a tap focuses, which opens it
  const span = event.target.closest(".pg-token");
  if (span) focusToken(span);
});
columnsBox.addEventListener("keydown", (event) => {
  const span = event.target.closest(".pg-token");
  if (!span) return;
  const tokens = $$(".pg-token", span.closest(".pg-out"));
  const at = tokens.indexOf(span);
  const to = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: tokens.length - 1 }[event.key];
  if (to !== undefined) {
    event.preventDefault();
    focusToken(tokens[Math.max(0, Math.min(tokens.length - 1, to))]);
  } else if (event.key === "Enter" || event.key === " " || event.key === "ArrowDown") {
    event.preventDefault();
    inspector.querySelector("[data-alt]")?.focus();
  } else if (event.key === "Escape") hideInspector();
});
inspector.addEventListener("keydown", (event) => {
  const buttons = [...inspector.querySelectorAll("[data-alt]")];
  const at = buttons.indexOf(document.activeElement);
  if (event.key === "Escape") { event.preventDefault(); hideInspector({ refocus: true }); }
  else if (event.key === "ArrowDown" && at >= 0) { event.preventDefault(); buttons[Math.min(at + 1, buttons.length - 1)].focus(); }
  else if (event.key === "ArrowUp" && at >= 0) {
    event.preventDefault();
    if (at === 0) shownFor?.focus(); else buttons[at - 1].focus();
  }
});
// Focus leaving both the tokens and the inspector closes it (hover still opens it).
root.addEventListener("focusout", (event) => {
  const next = event.relatedTarget;
  const fromHere = event.target.classList?.contains("pg-token") || inspector.contains(event.target);
  if (fromHere && next && !inspector.contains(next) && !next.classList.contains("pg-token")) inspector.hidden = true;
});
inspector.addEventListener("mouseenter", () => clearTimeout(hideTimer));
inspector.addEventListener("mouseleave", () => { if (!inspector.contains(document.activeElement)) inspector.hidden = true; });

// --- score mode --------------------------------------------------------------------------
function score() {
  say("");
  const version = Number($("[data-role=controls]").elements.model_version.value);
  const box = $("[data-role=scores]");
  box.replaceChildren();
  [["#pg-text-a", "Text"], ["#pg-text-b", "Compared text"]].forEach(([sel, label]) => {
    const text = $(sel).value;
    if (!text) return;
    const rid = newId();
    const el = document.createElement("section");
    el.className = "pg-score card";
    el.innerHTML = `<h2>${label}</h2><p class="hint">Scoring…</p>`;
    box.append(el);
    scoreJobs[rid] = { el };
    send({ type: "score", request_id: rid, model_version: version, text });
  });
}

function onScoreMessage(m) {
  const { el } = scoreJobs[m.request_id];
  if (m.type === "error") { $(".hint", el).textContent = m.message; delete scoreJobs[m.request_id]; return; }
  if (m.type === "loading") { $(".hint", el).textContent = "Loading the model…"; return; }
  if (m.type !== "score") return;
  delete scoreJobs[m.request_id];
  const tokens = m.tokens.map((t) => `<span class="pg-token" style="background:${colour(prob(t.logprob))}" title="p = ${pct(prob(t.logprob))} · −ln p = ${num(t.loss)} nats${t.logprob === null ? " · the first token has no context, so it is not scored" : ""}">${escape(t.text)}</span>`).join("");
  const rows = m.tokens.map((t) => `<tr><td><code>${escape(JSON.stringify(t.text))}</code></td><td>${pct(prob(t.logprob))}</td><td>${num(t.loss)}</td><td>${t.loss === null ? "–" : num(t.loss / Math.LN2)}</td></tr>`).join("");
  el.innerHTML = `<h2>${el.querySelector("h2").textContent}</h2>
    <div class="pg-text">${tokens}</div>
    <dl class="stats">
      <div><dt title="ln p(text): the sum of the scored tokens' log-probabilities, in nats (natural log)">log p(text) (nats)</dt><dd data-score="total_logprob">${num(m.total_logprob)}</dd></div>
      <div><dt title="p(text) = e^(log p), the probability of the scored tokens given the first">p(text)</dt><dd>${Math.exp(m.total_logprob).toExponential(3)}</dd></div>
      <div><dt title="−log₂ p(text): the bits the model needs to encode the text">Bits</dt><dd>${num(m.bits, 2)}</dd></div>
      <div><dt title="Bits per UTF-8 byte of the scored tokens: bits ÷ bytes; comparable across tokenizers; lower is better">Bits per byte</dt><dd>${num(m.bpb)}</dd></div>
      <div><dt title="Tokens scored and the UTF-8 bytes they cover: every token, the first one given the beginning-of-text token (only models trained before document boundaries leave the first unscored)">Scored</dt><dd>${m.scored} tokens · ${m.bytes} bytes</dd></div>
    </dl>
    <table class="pg-score-table"><thead><tr><th>Token</th><th title="p(token | the tokens before it), model distribution at temperature 1">p</th><th title="Loss: −ln p(token | before), in nats">−ln p (nats)</th><th title="−log₂ p, in bits">bits</th></tr></thead><tbody>${rows}</tbody></table>`;
}

// --- wiring ------------------------------------------------------------------------------
// Chat is for versions fine-tuned for chat; for a base version the page says so.
function isChatVersion() {
  const select = $("#pg-model");
  return select.options[select.selectedIndex]?.dataset.chat === "1";
}

function showMode() {
  const m = mode();
  $$("[data-only]").forEach((el) => { el.hidden = el.dataset.only !== m; });
  $$("[data-hide]").forEach((el) => { el.hidden = el.dataset.hide === m; });
  $("[data-field=not-chat]").hidden = m !== "chat" || isChatVersion();
}
$$("input[name=mode]").forEach((el) => el.addEventListener("change", showMode));
$("#pg-model").addEventListener("change", showMode);
$("[data-action=generate]").addEventListener("click", () => start());
$("[data-action=stop]").addEventListener("click", () => { if (active) send({ type: "cancel", request_id: active.rid }); });
$("[data-action=score]").addEventListener("click", score);
$("[data-action=new]").addEventListener("click", () => {
  if (active) return say("Stop the answer (or wait for it) before starting a new conversation.");
  say("");
  clearPage();
  conversations.current = null;
  conversations.refresh();
});
$("#pg-prompt").addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) start(); });

const conversations = new Conversations($("[data-role=conversations]"), {
  url: $("[data-role=conversations]").dataset.url,
  maxBytes: Number($("[data-role=conversations]").dataset.maxBytes),
  onOpen: reopen,
  onDeleted: clearPage,
  onError: say,
});
// A reload mid-answer: replay the stream from its start into fresh columns; it saves into the
// conversation it belonged to.
const saved = JSON.parse(sessionStorage.getItem(ACTIVE_KEY) || "null");
if (saved) {
  conversations.current = saved.conversation ?? null;
  begin(saved.rid, saved.titles, saved.promptText, []);
}
showMode();
conversations.refresh();
connect();

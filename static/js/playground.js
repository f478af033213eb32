// The playground page: one websocket (/ws/playground/, protocol in webapp/playground/consumers.py),
// completion / chat / score modes, tokens coloured by probability, an inspector with the
// top alternatives (click one to branch), Stop, side by side, resume after a reconnect, and
// saved conversations (conversations.js): each completed answer is saved; reopen restores it.
// Keyboard: an answer is one tab stop; arrows move between its tokens, each of which opens the
// inspector; Enter moves into the inspector's alternatives, Esc goes back.
import { Conversations } from "./conversations.js";
import { showScore } from "./score_view.js";
import { colour, num, prob, setupInspector } from "./token_inspector.js";

const root = document.getElementById("playground");
const $ = (sel, el = root) => el.querySelector(sel);
const $$ = (sel, el = root) => [...el.querySelectorAll(sel)];
const ACTIVE_KEY = "playground.active";
let socket = null;
let active = null; // the answer being received: {rid, lastId, titles, promptText, columns, sent}
let columns = []; // the answer on screen (kept after it ends): [{el, title, tokens, done, stats, reason, tail}]
let chat = []; // [{role, content}] of the current conversation (kept in the page)
// Chat: the column under the transcript shows the last reply (tokens, stats), so the
// transcript leaves it out; `dropped`: the oldest messages the last reply did not see.
let replyInColumn = false;
let dropped = 0;
const REASONS = { context_full: "context full" }; // done reasons said in words
const MAX_CHAT_MESSAGES = Number(root.dataset.maxChatMessages);
const MAX_PROMPT_CHARS = Number(root.dataset.maxPromptChars);
const scoreJobs = {}; // request_id -> {label, el}

const newId = () => (crypto.randomUUID ? crypto.randomUUID() : `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`);
const mode = () => $("input[name=mode]:checked").value;

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
  else if (m.type === "error") { say(m.message); active.undo?.(); finish(); }
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

// A seed past 2^53 - 1 would be rounded by Number() and give another text than the one typed.
function seedProblem() {
  const typed = $("[data-role=controls]").elements.seed.value.trim();
  if (typed === "" || (/^\d{1,20}$/.test(typed) && BigInt(typed) <= BigInt(Number.MAX_SAFE_INTEGER))) return "";
  return `Seed: a whole number from 0 to ${Number.MAX_SAFE_INTEGER}, or empty for a random one.`;
}

function optionLabel(select) { return select.options[select.selectedIndex]?.textContent ?? ""; }

function start({ prefix = null } = {}) {
  if (active) return;
  const problem = seedProblem();
  say(problem);
  if (problem) return;
  const f = $("[data-role=controls]");
  const message = { type: "generate", request_id: newId(), model_version: Number(f.elements.model_version.value),
                    params: readParams(), prompt: "" };
  const titles = [optionLabel(f.elements.model_version)];
  let promptText = "";
  if (mode() === "chat" && !isChatVersion()) {
    return say("This version has no chat template: use Complete, or fine-tune it for chat first.");
  }
  let undo = null, skipped = 0;
  if (mode() === "chat") {
    const text = $("#pg-message").value;
    if (!prefix && !text.trim()) return say("Type a message first.");
    if (prefix) { // a branch writes the last reply again; if it fails, the old one stays
      const previous = replyInColumn ? chat.pop() : null;
      undo = () => { if (previous) chat.push(previous); replyInColumn = false; renderChat(); };
    } else {
      chat.push({ role: "user", content: text });
      $("#pg-message").value = "";
      replyInColumn = false;
      renderChat();
      undo = () => unsend(text); // a refused message leaves the transcript as it was
    }
    ({ chat: message.chat, skipped } = chatWindow());
  } else {
    message.prompt = promptText = $("#pg-prompt").value;
    if (!prefix && f.elements.compare.value) {
      message.compare = Number(f.elements.compare.value);
      titles.push(optionLabel(f.elements.compare));
    }
  }
  if (prefix) message.prefix_ids = prefix.map((t) => t.id);
  begin(message.request_id, titles, promptText, prefix || [], { model_version: message.model_version, params: message.params });
  Object.assign(active, { undo, skipped });
  send(message);
}

// The newest turns within the socket's caps (messages, characters), the system message kept;
// the worker then fits them to the model's context the same way (lmcore/chatwindow.py).
function chatWindow() {
  const system = chat[0]?.role === "system" ? [chat[0]] : [];
  let rest = chat.slice(system.length);
  let skipped = 0;
  const chars = (ms) => ms.reduce((n, m) => n + m.content.length, 0);
  const tooBig = () => system.length + rest.length > MAX_CHAT_MESSAGES || chars(system) + chars(rest) > MAX_PROMPT_CHARS;
  while (tooBig()) {
    const next = rest.findIndex((m, i) => i > 0 && m.role === "user");
    if (next < 0) break; // the last message alone: the server says why it cannot go
    rest = rest.slice(next);
    skipped += next;
  }
  return { chat: [...system, ...rest], skipped };
}

function unsend(text) {
  if (chat.at(-1)?.role === "user" && chat.at(-1).content === text) chat.pop();
  if (!$("#pg-message").value) $("#pg-message").value = text;
  renderChat();
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
  // "\n", " ": say it; no text at all: bytes that end inside a character (the next token shows it)
  if (!t.text) span.setAttribute("aria-label", "part of a character");
  else if (!t.text.trim()) span.setAttribute("aria-label", JSON.stringify(t.text));
  column.tokens.push(t);
  $(".pg-out", column.el).append(span);
}

function showEnd(column, m) {
  if (m.text) $(".pg-out", column.el).append(document.createTextNode(m.text));
  for (const [key, value] of Object.entries(m.stats || {})) {
    const dd = $(`[data-stat=${key}]`, column.el);
    if (dd) dd.textContent = key === "seed" ? String(value) : num(value, key === "tokens" ? 0 : 1);
  }
  $("[data-stat=reason]", column.el).textContent = REASONS[m.reason] ?? m.reason;
  Object.assign(column, { done: true, stats: m.stats || {}, reason: m.reason, tail: m.text || "" });
}

const columnText = (c) => c.tokens.map((t) => t.text).join("") + c.tail;

function finishColumn(column, m) {
  showEnd(column, m);
  if (!active.columns.every((c) => c.done)) return;
  if (mode() === "chat") {
    chat.push({ role: "assistant", content: columnText(active.columns[0]) });
    replyInColumn = true;
    dropped = active.skipped + (m.stats?.dropped ?? 0);
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
  replyInColumn = false;
  dropped = 0;
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
  replyInColumn = false;
  dropped = 0;
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

// The transcript; the oldest messages the last reply did not see are marked, after a note.
function renderChat() {
  const first = chat[0]?.role === "system" ? 1 : 0;
  const items = (replyInColumn ? chat.slice(0, -1) : chat).map((m, i) => {
    const li = document.createElement("li");
    li.className = `pg-msg ${m.role}`;
    if (i >= first && i < first + dropped) li.classList.add("out-of-view");
    li.textContent = m.content || (m.role === "assistant" ? "(empty reply)" : "");
    return li;
  });
  if (dropped) {
    const note = document.createElement("li");
    note.className = "pg-note";
    note.dataset.field = "dropped";
    note.textContent = `The conversation is longer than the model's context: the last reply was written without the ${dropped} oldest ${dropped === 1 ? "message" : "messages"} (below, greyed).`;
    items.splice(first, 0, note);
  }
  $("[data-role=chat]").replaceChildren(...items);
}

// --- the inspector (token_inspector.js): click an alternative to branch ------------------
const inspector = $("[data-role=inspector]");
setupInspector({
  root,
  inspector,
  columnsBox: $("[data-role=columns]"),
  columnOf: (span) => columns.find((c) => c.el === span.closest(".pg-column")),
  busy: () => active !== null,
  branch: (prefix) => start({ prefix }),
});

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
  showScore(el, m);
}

// --- wiring ------------------------------------------------------------------------------
// Chat is for chat versions (fine-tuned, or imported with a template); for a base one the page says so.
function isChatVersion() {
  const select = $("#pg-model");
  return select.options[select.selectedIndex]?.dataset.chat === "1";
}

function showMode() {
  const m = mode();
  // Chat: the last reply's column goes under the transcript, where the reply belongs.
  const box = $("[data-role=columns]");
  if (m === "chat") $("[data-role=chat]").after(box);
  else $("[data-role=actions]").after(box);
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

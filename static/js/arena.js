// A battle's page: follows /ws/arena/<battle>/ (protocol in webapp/arena/consumers.py) until
// both answers have ended, then the vote: sent with fetch and answered with who answered
// (templates/arena/_reveal.html). Without JavaScript the vote form posts and the page reloads.
const root = document.getElementById("arena-battle");
const $ = (sel) => root.querySelector(sel);
const voteForm = $("[data-role=vote]");
let state = root.dataset.state; // waiting | answered | voted
let lastId = "0-0";
let socket = null;

function say(text) {
  const el = $("[data-field=error]");
  el.textContent = text;
  el.hidden = !text;
}

function progress(text) { $("[data-field=progress]").textContent = text; }

function setVoting(open) {
  voteForm?.querySelectorAll("button").forEach((b) => { b.disabled = !open; });
  const stop = $("[data-action=stop]");
  if (stop) stop.hidden = open || state !== "waiting";
}

const answer = (side) => $(`[data-answer="${side}"]`);
const ended = (side) => $(`[data-ended="${side}"]`);

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}${root.dataset.socket}`);
  socket.addEventListener("open", () => {
    if (state === "waiting") socket.send(JSON.stringify({ type: "follow", last_id: lastId }));
  });
  socket.addEventListener("message", (event) => onMessage(JSON.parse(event.data)));
  socket.addEventListener("close", (event) => {
    if (event.code === 4404) { progress("This battle is gone."); return; }
    if (state !== "waiting") return;
    progress("Disconnected; reconnecting…");
    setTimeout(connect, 1500);
  });
}

function onMessage(m) {
  if (m.last_id) lastId = m.last_id;
  if (m.type === "battle") {
    (m.answers || []).forEach((a, side) => { answer(side).textContent = a.text; ended(side).textContent = a.reason; });
    if (m.state !== "waiting") answered(m.state);
  } else if (m.type === "started") {
    [0, 1].forEach((side) => { answer(side).textContent = ""; ended(side).textContent = "–"; });
    progress("Waiting for the inference worker…");
  } else if (m.type === "loading") progress("Loading the models…");
  else if (m.type === "queued") progress(`Model ${"AB"[m.stream]} is queued (position ${m.position})…`);
  else if (m.type === "tokens") { progress("Answering…"); answer(m.stream).textContent += m.text; }
  else if (m.type === "done") { answer(m.stream).textContent += m.text; ended(m.stream).textContent = m.reason; }
  else if (m.type === "answered") answered("answered");
  else if (m.type === "error") { say(m.message); progress(""); }
}

function answered(newState) {
  state = newState;
  progress(state === "answered" ? "Both answers have ended: your vote." : "");
  setVoting(state === "answered");
  socket?.close();
}

$("[data-action=stop]")?.addEventListener("click", () => {
  if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "cancel" }));
});

voteForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = new FormData(voteForm);
  body.set("outcome", event.submitter.value);
  setVoting(false);
  say("");
  let reply;
  try {
    const response = await fetch(voteForm.action, { method: "POST", body, headers: { Accept: "application/json" } });
    reply = await response.json();
    if (!response.ok) throw new Error(reply.error || `the server answered ${response.status}`);
  } catch (error) {
    say(`The vote was not saved: ${error.message}`);
    setVoting(state === "answered");
    return;
  }
  state = "voted";
  progress("");
  voteForm.insertAdjacentHTML("afterend", reply.html);
  voteForm.remove();
  document.getElementById("arena-reveal").focus();
});

if (state === "waiting") connect();

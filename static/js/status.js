// Status page: ping every queue through the websocket and show each round trip as it arrives.
const PING_EVERY_MS = 2000;
const STALE_AFTER_MS = 6000; // no answer for this long: the queue has no working consumer

const table = document.getElementById("queues");
const socketState = document.getElementById("socket-state");
const lastSeen = new Map();

function row(queue) {
  return table.querySelector(`tr[data-queue="${CSS.escape(queue)}"]`);
}

function show(queue, result) {
  const tr = row(queue);
  if (!tr) return;
  lastSeen.set(queue, Date.now());
  tr.className = "ok";
  tr.querySelector(".state").textContent = "up";
  tr.querySelector(".rtt").textContent = result.rtt_ms === null ? "–" : result.rtt_ms.toFixed(1);
  tr.querySelector(".worker").textContent = result.worker || "(staff only)";
}

function markStale() {
  for (const tr of table.querySelectorAll("tr[data-queue]")) {
    const seen = lastSeen.get(tr.dataset.queue) ?? 0;
    if (Date.now() - seen > STALE_AFTER_MS && !tr.classList.contains("pending")) {
      tr.className = "down";
      tr.querySelector(".state").textContent = "no answer";
    }
  }
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}${table.dataset.wsPath}`);
  let timer = null;
  socket.addEventListener("open", () => {
    socketState.textContent = "Live.";
    const ping = () => { socket.send(JSON.stringify({ type: "ping" })); markStale(); };
    ping();
    timer = setInterval(ping, PING_EVERY_MS);
    setTimeout(() => table.querySelectorAll("tr.pending").forEach((tr) => tr.classList.remove("pending")), STALE_AFTER_MS);
  });
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "ping.result") show(message.queue, message);
    else if (message.type === "error") socketState.textContent = `Server: ${message.message}`;
  });
  socket.addEventListener("close", () => {
    clearInterval(timer);
    socketState.textContent = "Disconnected; retrying…";
    setTimeout(connect, 2000);
  });
}

connect();

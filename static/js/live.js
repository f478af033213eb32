// A websocket that reconnects, for pages that follow a job live. The server sends the current
// state first on every (re)connection, so nothing missed while disconnected stays missed.
export function connectLive(path, { onMessage, stateElement }) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const say = (text) => { if (stateElement) stateElement.textContent = text; };
  function open() {
    const socket = new WebSocket(`${scheme}://${location.host}${path}`);
    socket.addEventListener("open", () => say("Live."));
    socket.addEventListener("message", (event) => {
      const message = JSON.parse(event.data);
      if (message.type === "error") say(`Server: ${message.message}`);
      else onMessage(message);
    });
    socket.addEventListener("close", (event) => {
      if (event.code === 4404) { say("This corpus no longer exists."); return; }
      say("Disconnected; reconnecting…");
      setTimeout(open, 2000);
    });
  }
  open();
}

export function formatBytes(n) {
  const units = ["bytes", "kB", "MB", "GB", "TB"];
  let value = n, unit = 0;
  while (value >= 999.5 && unit < units.length - 1) { value /= 1000; unit += 1; }
  if (unit === 0) return `${n} ${n === 1 ? "byte" : "bytes"}`;
  return `${value < 100 ? value.toPrecision(3) : value.toFixed(0)} ${units[unit]}`;
}

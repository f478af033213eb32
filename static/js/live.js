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

// Decimal units (1 MB = 10⁶ bytes), but a whole number of MiB (a configured limit) exactly in
// binary ones: "1 GiB", not "1.07 GB" (as webapp/corpora/templatetags/corpora_format.py).
export function formatBytes(n) {
  for (const [size, name] of [[2 ** 40, "TiB"], [2 ** 30, "GiB"], [2 ** 20, "MiB"]]) {
    if (n >= size && n % 2 ** 20 === 0 && ((n / size) * 10) % 1 === 0) return `${n / size} ${name}`;
  }
  const units = ["bytes", "kB", "MB", "GB", "TB"];
  let value = n, unit = 0;
  while (value >= 999.5 && unit < units.length - 1) { value /= 1000; unit += 1; }
  if (unit === 0) return `${n.toLocaleString()} ${n === 1 ? "byte" : "bytes"}`;
  return `${value < 100 ? value.toPrecision(3) : value.toFixed(0)} ${units[unit]}`;
}

// A token's raw bytes, hex, one group per byte: "53 68 65", not "536865".
export const spacedHex = (hex) => (hex ? hex.match(/../g).join(" ") : "");

// Sizes for one sentence: exact byte counts when two would read the same once rounded.
export function formatSizes(...sizes) {
  const shown = sizes.map(formatBytes);
  if (new Set(shown).size < new Set(sizes).size) return sizes.map((n) => `${n.toLocaleString()} ${n === 1 ? "byte" : "bytes"}`);
  return shown;
}

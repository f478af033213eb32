// A corpus's page: follow its status live; when it changes, fetch the re-rendered fragment.
import { connectLive } from "./live.js";

const container = document.getElementById("corpus");

async function refresh() {
  const response = await fetch(container.dataset.fragmentUrl, { credentials: "same-origin" });
  if (response.ok) container.innerHTML = await response.text();
}

connectLive(container.dataset.wsPath, {
  stateElement: document.getElementById("socket-state"),
  onMessage(message) {
    if (message.type === "corpus.deleted") {
      container.innerHTML = '<p class="error" role="alert">This corpus was deleted.</p>';
      return;
    }
    if (message.type !== "corpus.status") return;
    document.getElementById("corpus-name").textContent = message.name;
    if (message.status !== container.dataset.status) {
      container.dataset.status = message.status;
      refresh();
    } else if (message.status === "validating") {
      const bar = document.getElementById("validation-progress");
      if (bar) bar.value = message.progress;
      const percent = document.getElementById("validation-percent");
      if (percent) percent.textContent = `${Math.floor(100 * message.progress)} %`;
    }
  },
});


// Models page (staff): upload a zip of a transformers model, or a GGUF file, with the corpora's resumable
// uploader, then follow the import until it becomes a version or is refused with a reason.
import { Upload } from "./uploader.js";

const panel = document.getElementById("model-import");
const nameInput = document.getElementById("import-name");
const fileInput = document.getElementById("import-file");
const startButton = document.getElementById("import-start");
const pauseButton = document.getElementById("import-pause");
const bar = document.getElementById("import-progress");
const state = document.getElementById("import-state");
let upload = null;

function say(message, isError = false) {
  state.textContent = message;
  state.classList.toggle("error", isError);
}

function render(u) {
  bar.hidden = false;
  bar.value = u.file.size ? u.offset / u.file.size : 0;
  pauseButton.hidden = !["uploading", "retrying", "paused"].includes(u.state);
  pauseButton.textContent = u.state === "paused" ? "Resume" : "Pause";
  const words = { uploading: "Uploading…", paused: "Paused. Resume here, or pick the same file again after a reload.", done: "Uploaded; importing…" };
  say(u.message || words[u.state] || "", u.state === "failed");
}

async function follow(url) {
  for (;;) {
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    const info = await response.json();
    if (info.status === "imported") {
      state.replaceChildren("Imported: ");
      const link = document.createElement("a");
      link.href = info.version_url;
      link.textContent = "open the new version";
      state.append(link);
      return;
    }
    if (info.status === "rejected") return say(`Refused: ${info.error}`, true);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

startButton.addEventListener("click", async () => {
  const file = fileInput.files[0];
  if (!nameInput.reportValidity()) return;
  if (!file) return say("Pick a zip or GGUF file first.", true);
  const startUrl = `${panel.dataset.startUrl}?model=${encodeURIComponent(nameInput.value)}`;
  upload = new Upload(file, { startUrl, csrf: panel.dataset.csrf, onChange: render });
  startButton.disabled = true;
  await upload.run();
  startButton.disabled = false;
  if (upload.state === "done") await follow(upload.info.upload_url);
});

pauseButton.addEventListener("click", async () => {
  if (!upload) return;
  if (upload.state === "paused") {
    await upload.run();
    if (upload.state === "done") await follow(upload.info.upload_url);
  } else upload.pause();
});

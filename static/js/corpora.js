// Corpora page: drop or pick files to upload them in chunks, and keep the list live.
import { connectLive, formatBytes, formatSizes } from "./live.js";
import { Upload } from "./uploader.js";

const panel = document.getElementById("upload");
const dropzone = document.getElementById("dropzone");
const input = document.getElementById("file-input");
const list = document.getElementById("uploads");
const table = document.getElementById("corpora");
const maxBytes = Number(panel.dataset.maxBytes);
const queue = [];
let pumping = false;

function itemFor(upload) {
  const li = document.createElement("li");
  li.className = "upload-item";
  li.innerHTML = `<span class="name"></span>
    <progress max="1" value="0"></progress>
    <span class="numbers" title="Bytes the server has received of this file, and the speed of the last chunk (1 MB = 1,000,000 bytes)"></span>
    <button type="button" class="pause">Pause</button>
    <p class="state" role="status"></p>`;
  li.querySelector(".name").textContent = upload.file.name;
  li.querySelector(".pause").addEventListener("click", () => {
    if (upload.state === "paused") enqueue(upload);
    else upload.pause();
  });
  return li;
}

function render(upload) {
  const li = upload.element;
  const size = upload.file.size;
  li.dataset.state = upload.state;
  if (upload.info && !li.dataset.corpusId) {
    li.dataset.corpusId = upload.info.id;
    refreshRow(upload.info.id); // the new (or resumed) corpus appears in the list at once
  }
  li.querySelector("progress").value = size ? upload.offset / size : 0;
  const speed = upload.state === "uploading" && upload.rate ? ` · ${formatBytes(upload.rate)}/s` : "";
  li.querySelector(".numbers").textContent = `${formatBytes(upload.offset)} of ${formatBytes(size)}${speed}`;
  const button = li.querySelector(".pause");
  button.hidden = upload.state === "done" || upload.state === "failed"; // refusals are final
  button.textContent = upload.state === "paused" ? "Resume" : "Pause";
  const words = {
    waiting: "Waiting for the uploads before it…",
    uploading: "Uploading…",
    paused: "Paused. Resume here, or drop the same file again after a reload.",
    done: "Uploaded; checking the text…",
  };
  const state = li.querySelector(".state");
  state.classList.toggle("error", upload.state === "failed");
  state.textContent = upload.message || words[upload.state] || "";
}

function enqueue(upload) {
  upload.set("waiting");
  queue.push(upload);
  pump();
}

async function pump() {
  if (pumping) return;
  pumping = true;
  while (queue.length) await queue.shift().run();
  pumping = false;
}

function addFiles(files) {
  for (const file of files) {
    const upload = new Upload(file, { startUrl: panel.dataset.startUrl, csrf: panel.dataset.csrf, onChange: render, kind: panel.dataset.kind });
    upload.element = itemFor(upload);
    list.append(upload.element);
    if (file.size > maxBytes) {
      const [size, limit] = formatSizes(file.size, maxBytes);
      upload.set("failed", `“${file.name}” is ${size}; the limit is ${limit} per file.`);
      continue;
    }
    enqueue(upload);
  }
}

// A file dropped beside the zone would otherwise replace the page (and stop its uploads).
window.addEventListener("dragover", (event) => event.preventDefault());
window.addEventListener("drop", (event) => event.preventDefault());
dropzone.addEventListener("dragover", (event) => { event.preventDefault(); dropzone.classList.add("over"); });
dropzone.addEventListener("dragleave", () => dropzone.classList.remove("over"));
dropzone.addEventListener("drop", (event) => {
  event.preventDefault();
  dropzone.classList.remove("over");
  addFiles(event.dataTransfer.files);
});
input.addEventListener("change", () => { addFiles(input.files); input.value = ""; });

// --- the list, live ---------------------------------------------------------------------------
async function refreshRow(id) {
  const response = await fetch(`/corpora/${id}/row/`, { credentials: "same-origin" });
  if (!response.ok) return;
  const template = document.createElement("template");
  template.innerHTML = (await response.text()).trim();
  const fresh = template.content.firstElementChild;
  const old = document.getElementById(`corpus-${id}`);
  if (old) old.replaceWith(fresh);
  else table.tBodies[0].prepend(fresh);
  table.querySelector("tr.empty").hidden = true;
}

// The storage line: an upload counts at its full size from its start; rejected or deleted, not.
async function refreshQuota() {
  const response = await fetch(panel.dataset.quotaUrl, { credentials: "same-origin" });
  if (!response.ok) return;
  const template = document.createElement("template");
  template.innerHTML = (await response.text()).trim();
  document.getElementById("quota").replaceWith(template.content.firstElementChild);
}

function showInUploads(message) {
  const li = list.querySelector(`li[data-corpus-id="${message.id}"][data-state="done"]`);
  if (!li) return;
  const state = li.querySelector(".state");
  if (message.status === "ready") state.innerHTML = `Ready: <a href="${message.url}">see its statistics</a>.`;
  if (message.status === "rejected") { state.textContent = message.error; state.classList.add("error"); }
}

connectLive(table.dataset.wsPath, {
  stateElement: document.getElementById("socket-state"),
  onMessage(message) {
    if (message.type === "corpus.deleted") { document.getElementById(`corpus-${message.id}`)?.remove(); refreshQuota(); return; }
    if (message.type !== "corpus.status" || message.kind !== table.dataset.kind) return; // the other page's
    showInUploads(message);
    const row = document.getElementById(`corpus-${message.id}`);
    if (!row || row.dataset.status !== message.status) { refreshRow(message.id); refreshQuota(); return; }
    const detail = row.querySelector(".status .detail");
    if (detail && message.status === "uploading") detail.textContent = `${Math.floor(100 * message.received_bytes / message.size_bytes)} % received`;
    if (detail && message.status === "validating") detail.textContent = `${Math.floor(100 * message.progress)} % checked`;
  },
});

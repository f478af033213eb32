// Tokenizer page: live status, "tokenize this text", the merge explorer, the vocabulary browser.
import { connectLive, spacedHex } from "./live.js";
import { postJSON, showJobStatus } from "./jobstatus.js";

const root = document.getElementById("run");
connectLive(root.dataset.wsPath, {
  onMessage: (message) => { if (message.type === "run.status") showJobStatus(root, message); },
  stateElement: document.getElementById("socket-state"),
});

const PALETTE = ["#fde2c8", "#d7ecd9", "#dbe4f6", "#f6d9e4", "#ece1f7", "#f7f0c6"];

function tokenChip(token, index) {
  const chip = document.createElement("span");
  chip.className = "token";
  chip.style.background = PALETTE[index % PALETTE.length];
  const shown = token.text.includes("\ufffd") ? `⟨${spacedHex(token.hex)}⟩` : token.text.replaceAll("\n", "↵").replaceAll(" ", "␣");
  chip.textContent = shown;
  chip.title = `id ${token.id} · bytes ${spacedHex(token.hex)}`;
  const id = document.createElement("sub");
  id.textContent = token.id;
  chip.append(id);
  return chip;
}

function debounce(fn, ms) {
  let timer;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}

const tokenizeText = document.getElementById("tokenize-text");
if (tokenizeText) {
  const out = document.getElementById("tokenize-tokens");
  const summary = document.getElementById("tokenize-summary");
  const run = debounce(async () => {
    try {
      const result = await postJSON(root.dataset.encodeUrl, { text: tokenizeText.value });
      out.replaceChildren(...result.tokens.map(tokenChip));
      summary.textContent = `${result.tokens.length.toLocaleString()} tokens · ${result.bytes.toLocaleString()} bytes · ${result.bytes_per_token} bytes per token`;
    } catch (error) { summary.textContent = error.message; }
  }, 150);
  tokenizeText.addEventListener("input", run);
  run();

  const traceInput = document.getElementById("trace-text");
  const traceSteps = document.getElementById("trace-steps");
  const traceError = document.getElementById("trace-error");
  const showTrace = async () => {
    traceError.hidden = true;
    try {
      const result = await postJSON(root.dataset.traceUrl, { text: traceInput.value });
      traceSteps.replaceChildren(...result.steps.map((step) => {
        const li = document.createElement("li");
        const label = document.createElement("span");
        label.className = "hint";
        label.textContent = step.rank === null ? "bytes" : `merge #${step.rank} → “${step.merged.text}”`;
        li.append(label, " ", ...step.tokens.map(tokenChip));
        return li;
      }));
    } catch (error) { traceError.textContent = error.message; traceError.hidden = false; }
  };
  document.getElementById("trace-go").addEventListener("click", showTrace);
  traceInput.addEventListener("keydown", (e) => { if (e.key === "Enter") showTrace(); });
  showTrace();

  let page = 1;
  const q = document.getElementById("vocab-q");
  const rows = document.getElementById("vocab-rows");
  const loadVocab = async () => {
    const url = `${root.dataset.vocabUrl}?page=${page}&q=${encodeURIComponent(q.value)}`;
    const result = await (await fetch(url)).json();
    page = result.page;
    rows.replaceChildren(...result.entries.map((e) => {
      const tr = document.createElement("tr");
      for (const value of [e.id, null, spacedHex(e.bytes_hex), e.rank ?? (e.special ? "special" : "")]) {
        const td = document.createElement("td");
        if (value === null) td.append(tokenChip({ id: e.id, text: e.token, hex: e.bytes_hex }, e.id));
        else td.textContent = value;
        tr.append(td);
      }
      return tr;
    }));
    document.getElementById("vocab-count").textContent = `${result.count.toLocaleString()} tokens`;
    document.getElementById("vocab-page").textContent = `page ${result.page.toLocaleString()} of ${result.pages.toLocaleString()}`;
    document.getElementById("vocab-prev").disabled = result.page <= 1;
    document.getElementById("vocab-next").disabled = result.page >= result.pages;
  };
  q.addEventListener("input", debounce(() => { page = 1; loadVocab(); }, 200));
  document.getElementById("vocab-prev").addEventListener("click", () => { page -= 1; loadVocab(); });
  document.getElementById("vocab-next").addEventListener("click", () => { page += 1; loadVocab(); });
  const vocab = document.getElementById("vocab");
  vocab.addEventListener("toggle", () => { if (vocab.open && !rows.childElementCount) loadVocab(); });
}

// Evaluation run page: live status, and each result as it lands (the table is the page's, a
// reload shows the same rows: the database is the truth).
import { connectLive } from "./live.js";
import { showJobStatus } from "./jobstatus.js";

const root = document.getElementById("run");
const body = document.querySelector("#results tbody");

function figure(m) {
  const value = m.value.toFixed(4);
  return m.stderr === null || m.stderr === undefined ? value : `${value} ± ${m.stderr.toFixed(4)}`;
}

function showResult(r) {
  if (body.querySelector(`[data-result="${r.id}"]`)) return;
  body.querySelector("tr.empty")?.remove();
  const row = document.createElement("tr");
  row.dataset.result = r.id;
  const cells = [r.version, r.label, String(r.n),
    Object.entries(r.metrics).map(([name, m]) => `${name} ${figure(m)}`).join("\n"), r.seconds.toFixed(1)];
  for (const text of cells) {
    const td = document.createElement("td");
    td.textContent = text;
    td.style.whiteSpace = "pre-line";
    row.append(td);
  }
  const link = document.createElement("td");
  if (r.output_type !== "bpb") {
    const a = document.createElement("a");
    a.href = `/evaluate/results/${r.id}/items/`;
    a.textContent = "Items";
    link.append(a);
  }
  row.append(link);
  body.append(row);
}

connectLive(root.dataset.wsPath, {
  onMessage: (message) => {
    if (message.type === "run.status") showJobStatus(root, message);
    else if (message.type === "eval.result") showResult(message);
  },
  stateElement: document.getElementById("socket-state"),
});

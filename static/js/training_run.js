// A training run's live page: the history first, then each metric as it arrives, drawn with
// uPlot; train and validation curves share the x axis (steps, tokens or seconds). While the run
// goes, each logged step moves the progress bar (progress = seconds ÷ (seconds + ETA), what the
// trainer's ETA is made of); once it has finished, ETA and the last window's tokens/s give way
// to the run's duration and its average speed.
import { connectLive } from "./live.js";
import { showJobStatus } from "./jobstatus.js";

const root = document.getElementById("run");
// batch x accumulation x context on each device, times the devices (training processes).
const tokensPerStep = Number(root.dataset.tokensPerStep) * Number(root.dataset.gradAccum) * Number(root.dataset.context) * Number(root.dataset.devices || 1);
const rows = { train: [], val: [] }; // {step, seconds, value(s)}
let lastId = 0;
let lastSeconds = 0;

function xOf(point, axis) {
  if (axis === "tokens") return point.step * tokensPerStep;
  if (axis === "seconds") return point.seconds;
  return point.step;
}

let logScale = false;
let lossChart = null;
let bpbChart = null;

function makeChart(element, series) {
  element.replaceChildren();
  const opts = {
    width: element.clientWidth || 800, height: 260,
    scales: { x: { time: false }, y: { distr: logScale ? 3 : 1 } },
    series: [{ label: "x" }, ...series],
    axes: [{}, { size: 60 }],
  };
  return new uPlot(opts, [[], ...series.map(() => [])], element);
}

function buildCharts() {
  lossChart?.destroy();
  bpbChart?.destroy();
  lossChart = makeChart(document.getElementById("loss-chart"), [
    { label: "train loss", stroke: "#8a4b14", width: 1.5, spanGaps: true },
    { label: "val loss", stroke: "#2f5d9e", width: 2, points: { show: true }, spanGaps: true },
  ]);
  bpbChart = makeChart(document.getElementById("bpb-chart"), [
    { label: "val bpb", stroke: "#2f7d32", width: 2, points: { show: true }, spanGaps: true },
  ]);
}
buildCharts();

function redraw() {
  const axis = document.getElementById("x-axis").value;
  const points = [...rows.train.map((p) => ({ ...p, kind: "train" })), ...rows.val.map((p) => ({ ...p, kind: "val" }))]
    .sort((a, b) => xOf(a, axis) - xOf(b, axis));
  const xs = points.map((p) => xOf(p, axis));
  lossChart.setData([xs, points.map((p) => (p.kind === "train" ? p.loss : null)), points.map((p) => (p.kind === "val" ? p.val_loss : null))]);
  const vals = rows.val.filter((p) => p.val_bpb !== null);
  bpbChart.setData([vals.map((p) => xOf(p, axis)), vals.map((p) => p.val_bpb)]);
  showEmpty("loss", rows.train.length === 0, "No step was logged.");
  showEmpty("bpb", vals.length === 0, "No evaluation was recorded.");
}

// An empty chart says what it waits for (the template's words), or that nothing came.
function showEmpty(name, empty, whenFinished) {
  const note = document.querySelector(`[data-empty="${name}"]`);
  note.dataset.waiting ??= note.textContent;
  note.textContent = finished() ? whenFinished : note.dataset.waiting;
  note.hidden = !empty;
}

function setLog(on) {
  logScale = on;
  buildCharts();
  redraw();
}

const FINISHED = ["succeeded", "failed", "cancelled"];
const finished = () => FINISHED.includes(root.dataset.status);

function formatDuration(s) {
  if (s < 90) return `${Math.round(s)} s`;
  const minutes = Math.floor(s / 60), seconds = Math.round(s % 60);
  return minutes < 90 ? `${minutes} min ${seconds} s` : `${(s / 3600).toFixed(1)} h`;
}

function showProgress(event) {
  if (finished() || typeof event.eta_s !== "number" || typeof event.seconds !== "number") return;
  const progress = event.seconds / (event.seconds + event.eta_s);
  if (!(progress >= 0 && progress <= 1)) return;
  root.querySelector('[data-field="progress"]').value = progress;
  root.querySelector('[data-field="percent"]').textContent = `${Math.round(progress * 100)} %`;
}

// A finished run: its duration instead of an ETA, its average speed instead of the last window's.
function showTotals() {
  const last = rows.train.at(-1);
  if (!finished() || !last) return;
  const set = (key, label, title, text) => {
    const dd = document.querySelector(`[data-live="${key}"]`);
    dd.previousElementSibling.textContent = label;
    dd.previousElementSibling.title = title;
    dd.textContent = text;
  };
  set("eta_s", "Duration", "Wall clock of the training, evaluations included (resumed sessions add up)", formatDuration(lastSeconds));
  if (lastSeconds > 0) {
    set("tokens_per_s", "Tokens/s (average)", "Training tokens ÷ wall-clock seconds over the whole run, evaluations included",
        Math.round((last.step * tokensPerStep) / lastSeconds).toLocaleString());
  }
}

function showLive(event) {
  if (finished()) { delete event.eta_s; delete event.tokens_per_s; }
  for (const [key, value] of Object.entries(event)) {
    const el = document.querySelector(`[data-live="${key}"]`);
    if (!el || value === null || value === undefined) continue;
    if (key === "eta_s") el.textContent = `${Math.round(value)} s`;
    else if (key === "lr") el.textContent = Number(value).toExponential(2);
    else if (typeof value === "number" && !Number.isInteger(value)) el.textContent = value.toFixed(key === "tokens_per_s" ? 0 : 4);
    else el.textContent = value.toLocaleString();
  }
}

function showPerCorpus(corpora) {
  const table = document.getElementById("per-corpus");
  if (!corpora || !Object.keys(corpora).length) return;
  const body = table.tBodies[0];
  body.replaceChildren();
  for (const [name, bpb] of Object.entries(corpora)) {
    const row = body.insertRow();
    row.insertCell().textContent = name;
    row.insertCell().textContent = bpb === null ? "–" : Number(bpb).toFixed(4);
  }
  table.hidden = false;
}

function addSample(event) {
  const li = document.createElement("li");
  const head = document.createElement("span");
  head.className = "hint";
  const chat = root.dataset.chat === "1"; // a reply to a held-out conversation's question
  head.textContent = chat ? `step ${event.step}, user: ${JSON.stringify(event.prompt)} → reply: `
                          : `step ${event.step}, prompt ${JSON.stringify(event.prompt)}: `;
  const text = document.createElement("pre");
  text.textContent = chat ? event.text || "(empty reply)" : event.prompt + event.text;
  if (chat && !event.text) text.classList.add("empty"); // the model ended its turn at once
  li.append(head, text);
  // The latest evaluation's samples in view; earlier ones collapsed (ten evaluations, each a few).
  const latest = document.getElementById("samples");
  if (latest.dataset.step && Number(latest.dataset.step) !== event.step) {
    document.getElementById("samples-earlier").prepend(...latest.children);
    const earlier = document.getElementById("earlier-samples");
    earlier.hidden = false;
    earlier.querySelector('[data-field="earlier-count"]').textContent = document.getElementById("samples-earlier").childElementCount;
  }
  latest.dataset.step = event.step;
  latest.prepend(li);
  document.querySelector('[data-empty="samples"]').hidden = true;
}

function apply(event, draw) {
  if (event.id !== undefined) { if (event.id <= lastId) return; lastId = event.id; }
  if (event.type === "run.metrics") {
    if (event.seconds !== undefined && event.seconds !== null) lastSeconds = event.seconds;
    const point = { ...event, seconds: event.seconds ?? lastSeconds };
    if (event.loss !== undefined) rows.train.push(point); else rows.val.push(point);
    showProgress(event);
    showLive({ ...event });
    showPerCorpus(event.corpora);
    if (draw) redraw();
  } else if (event.type === "run.sample") {
    addSample(event);
  }
}

function showStatus(event) {
  showJobStatus(root, event);
  const queue = root.querySelector('[data-field="queue"]');
  queue.hidden = event.status !== "queued";
  root.querySelector('[data-field="queue_position"]').textContent = event.queue_position ?? "";
  root.querySelector('[data-show="active"]').hidden = !["queued", "running", "cancelling"].includes(event.status);
  root.querySelector('[data-show="resumable"]').hidden = !event.can_resume;
}

connectLive(root.dataset.wsPath, {
  onMessage: (message) => {
    if (message.type === "run.status") showStatus(message);
    else if (message.type === "run.history") { message.events.forEach((e) => apply(e, false)); redraw(); showTotals(); }
    else apply(message, true);
  },
  stateElement: document.getElementById("socket-state"),
});

document.getElementById("x-axis").addEventListener("change", redraw);
document.getElementById("log-scale").addEventListener("change", (e) => setLog(e.target.checked));
window.addEventListener("resize", () => {
  for (const id of ["loss-chart", "bpb-chart"]) {
    const chart = id === "loss-chart" ? lossChart : bpbChart;
    chart.setSize({ width: document.getElementById(id).clientWidth, height: 260 });
  }
});

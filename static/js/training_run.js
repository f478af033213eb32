// A training run's live page: the history first, then each metric as it arrives, drawn with
// uPlot; train and validation curves share the x axis (steps, tokens or seconds). While the run
// goes, its phase shows in words (starting, encoding, compiling, training, evaluating, saving),
// and every report (logged steps, "pace" lines about once a second between them, phases) moves
// the progress bar and the ETA, as the trainer measures them (lmcore/pace.py). Once it has
// finished, ETA and the last window's tokens/s give way to its duration (launch to end, with
// the time in training steps beside it) and its average speed.
import { connectLive, formatBytes } from "./live.js";
import { showJobStatus } from "./jobstatus.js";

const root = document.getElementById("run");
// batch x accumulation x context on each device, times the devices (training processes).
const tokensPerStep = Number(root.dataset.tokensPerStep) * Number(root.dataset.gradAccum) * Number(root.dataset.context) * Number(root.dataset.devices || 1);
const rows = { train: [], val: [] }; // {step, seconds, tokens, value(s)}
const phaseWords = JSON.parse(document.getElementById("phase-words").textContent);
let lastId = 0;
let lastSeconds = 0;
let lastTokens = null; // real tokens trained on so far, as the trainer counts them
let shownProgress = 0;

function xOf(point, axis) {
  if (axis === "tokens") return point.tokens ?? point.step * tokensPerStep;
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

// The trainer's own fraction done (the closer limit); never backwards (pushes may cross).
function showProgress(event) {
  const progress = event.progress;
  if (finished() || typeof progress !== "number" || !(progress >= shownProgress && progress <= 1)) return;
  shownProgress = progress;
  root.querySelector('[data-field="progress"]').value = progress;
  root.querySelector('[data-field="percent"]').textContent = `${Math.round(progress * 100)} %`;
}

// What the run is doing, in words: the phase, with the step or the bytes encoded.
function showPhase(event) {
  const line = root.querySelector('[data-field="phase"]');
  if (finished() || !(event.phase in phaseWords)) { line.hidden = true; return; }
  let text = phaseWords[event.phase];
  const maxSteps = Number(root.dataset.maxSteps);
  if (event.phase === "encoding" && typeof event.bytes_total === "number") {
    text = text.replace(/…$/, `: ${formatBytes(event.bytes_done ?? 0)} of ${formatBytes(event.bytes_total)}…`);
  } else if (event.phase === "training" && typeof event.step === "number") {
    text = text.replace(/…$/, `: step ${event.step.toLocaleString()}${maxSteps ? ` of ${maxSteps.toLocaleString()}` : ""}…`);
  } else if (["evaluating", "saving"].includes(event.phase)) {
    text = text.replace(/…$/, ` (step ${event.step})…`);
  }
  line.textContent = text;
  line.dataset.phase = event.phase;
  line.hidden = false;
}

// Between logged steps: progress, ETA and the step, and the step in the training phase's line.
function showPace(event) {
  showProgress(event);
  showLive({ step: event.step, eta_s: event.eta_s });
  if (root.querySelector('[data-field="phase"]').dataset.phase === "training") showPhase({ ...event, phase: "training" });
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
  const wall = Number(root.dataset.wallSeconds) || lastSeconds;
  const training = Number(root.dataset.trainSeconds);
  set("eta_s", "Duration", "Launch to end (since the last resume, for a resumed run); beside it, the time spent in training steps (start-up, encoding and evaluations left out; resumed sessions add up)",
      training ? `${formatDuration(wall)} (training ${formatDuration(training)})` : formatDuration(wall));
  const tokens = last.tokens ?? last.step * tokensPerStep;
  if (training > 0 || lastSeconds > 0) {
    set("tokens_per_s", "Tokens/s (average)", "Real training tokens ÷ seconds in training steps, over the whole run",
        Math.round(tokens / (training || lastSeconds)).toLocaleString());
  }
}

function showLive(event) {
  if (finished()) { delete event.eta_s; delete event.tokens_per_s; }
  for (const [key, value] of Object.entries(event)) {
    const el = document.querySelector(`[data-live="${key}"]`);
    if (!el || value === null || value === undefined) continue;
    if (key === "eta_s") el.textContent = formatDuration(value);
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
    if (typeof event.tokens === "number") lastTokens = event.tokens;
    const point = { ...event, seconds: event.seconds ?? lastSeconds, tokens: event.tokens ?? lastTokens ?? undefined };
    if (event.loss !== undefined) rows.train.push(point); else rows.val.push(point);
    showProgress(event);
    if (event.loss !== undefined && root.querySelector('[data-field="phase"]').dataset.phase === "training") showPhase({ ...event, phase: "training" });
    const live = { ...event };
    delete live.progress; delete live.tokens;
    showLive(live);
    showPerCorpus(event.corpora);
    if (draw) redraw();
  } else if (event.type === "run.sample") {
    addSample(event);
  } else if (event.type === "run.phase") {
    showPhase(event);
    showProgress(event);
    if (typeof event.eta_s === "number") showLive({ eta_s: event.eta_s });
  } else if (event.type === "run.pace") {
    showPace(event);
  }
}

function showStatus(event) {
  showJobStatus(root, event);
  if (finished()) root.querySelector('[data-field="phase"]').hidden = true;
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

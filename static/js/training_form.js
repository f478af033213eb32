// Training form: as the user edits it, ask the server for the run's estimates (or the errors on
// each field), so an impossible run is refused before launch, with the reason on the field.
import { csrfToken } from "./jobstatus.js";
import { formatBytes } from "./live.js";

const form = document.getElementById("train-form");

function formatSeconds(s) {
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

function showErrors(errors) {
  for (const field of form.querySelectorAll(".field")) {
    const box = field.querySelector(".errors");
    box.replaceChildren(...(errors[field.dataset.field] ?? []).map((message) => {
      const p = document.createElement("p");
      p.className = "error";
      p.setAttribute("role", "alert");
      p.textContent = message;
      return p;
    }));
  }
}

function showEstimate(estimate) {
  const set = (key, text) => { form.querySelector(`[data-estimate="${key}"]`).textContent = text; };
  if (!estimate) { for (const key of ["params", "memory_bytes", "tokens_per_step", "seconds"]) set(key, "–"); return; }
  set("params", estimate.params.toLocaleString());
  set("memory_bytes", formatBytes(estimate.memory_bytes));
  set("tokens_per_step", estimate.tokens_per_step.toLocaleString());
  set("seconds", `${formatSeconds(estimate.seconds)} (${estimate.seconds_basis})`);
}

let pending = null;
async function refresh() {
  const body = new FormData(form);
  const response = await fetch(form.dataset.estimateUrl, { method: "POST", body, headers: { "X-CSRFToken": csrfToken() } });
  const result = await response.json();
  showErrors(result.ok ? {} : result.errors);
  showEstimate(result.ok ? result.estimate : null);
}

// Blank size fields take the preset's value: show it as the placeholder.
const presets = JSON.parse(document.getElementById("preset-defaults").textContent);
function showPresetDefaults() {
  const defaults = presets[form.querySelector("[name=preset]").value] ?? {};
  for (const input of form.querySelectorAll("input[type=number]")) {
    const value = input.name === "max_minutes" ? (defaults.max_seconds ? defaults.max_seconds / 60 : null) : defaults[input.name];
    input.placeholder = value === undefined || value === null || Number.isNaN(value) ? "" : String(value);
  }
}
form.querySelector("[name=preset]").addEventListener("change", showPresetDefaults);
showPresetDefaults();

form.addEventListener("input", () => { clearTimeout(pending); pending = setTimeout(refresh, 250); });
form.addEventListener("change", () => { clearTimeout(pending); pending = setTimeout(refresh, 50); });
if (form.querySelector("[name=tokenizer]")?.value) refresh();

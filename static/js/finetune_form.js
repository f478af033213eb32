// Fine-tune form: the LoRA fields only when LoRA is chosen, and the trainable parameters of the
// choice as the fields change: every weight (Full), or rank x layers x (inputs + outputs) of
// each chosen matrix (LoRA; lmcore/config.py, LoRAConfig.num_params, sent as "per_rank").
const form = document.getElementById("finetune-form");
const figures = JSON.parse(document.getElementById("lora-estimate").textContent);
const LORA_FIELDS = ["lora_rank", "lora_alpha", "lora_dropout", "lora_targets"];

function trainable(lora) {
  if (!lora) return figures.params;
  const rank = Number.parseInt(form.querySelector("[name=lora_rank]").value, 10);
  const targets = [...form.querySelectorAll("[name=lora_targets]:checked")].map((box) => box.value);
  if (!(rank >= 1) || targets.length === 0) return null;
  return targets.reduce((sum, t) => sum + rank * (figures.per_rank[t] ?? 0), 0);
}

function update() {
  const lora = form.querySelector("[name=method]:checked")?.value === "lora";
  for (const name of LORA_FIELDS) form.querySelector(`[data-field="${name}"]`).hidden = !lora;
  const n = figures.params ? trainable(lora) : null;
  const set = (key, text) => { form.querySelector(`[data-estimate="${key}"]`).textContent = text; };
  set("trainable", n === null ? "–" : n.toLocaleString("en-US"));
  set("share", n === null ? "–" : `${((100 * n) / figures.params).toFixed(2)} %`);
}

form.addEventListener("input", update);
form.addEventListener("change", update);
update();

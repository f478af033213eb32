// A version's own sampling defaults (its generation_config.json: ModelVersion.sampling_defaults)
// fill the playground's settings when it is chosen, as the API and `lmcore sample` start from
// them. A setting the previous version filled goes back to the page's default, unless it was
// changed since (by hand, or by reopening a conversation with its own settings).
const select = document.getElementById("pg-model");
const form = document.getElementById("pg-controls");
const data = document.getElementById("pg-defaults");
const DEFAULTS = data ? JSON.parse(data.textContent) : {};
let shown = {}; // field name -> the value put there for the chosen version

function showDefaults() {
  for (const [name, value] of Object.entries(shown)) {
    const field = form.elements[name];
    if (field && field.value === value) field.value = field.defaultValue;
  }
  shown = {};
  for (const [name, value] of Object.entries(DEFAULTS[select.value] || {})) {
    const field = form.elements[name];
    if (field) {
      field.value = value;
      shown[name] = field.value;
    }
  }
}

if (select && form && data) {
  select.addEventListener("change", showDefaults);
  showDefaults();
}

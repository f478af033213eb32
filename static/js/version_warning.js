// The playground says when the chosen version barely trained (lmcore/verdict.py's warning,
// kept in the version's metrics): its answers will read as noise, and the warning says why.
const select = document.getElementById("pg-model");
const note = document.getElementById("version-warning");

function showWarning() {
  const warning = select?.selectedOptions[0]?.dataset.warning ?? "";
  note.textContent = warning;
  note.hidden = !warning;
}

if (select && note) {
  select.addEventListener("change", showWarning);
  showWarning();
}

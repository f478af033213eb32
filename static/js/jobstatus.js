// Shows a job's `run.status` event in the jobs/_status.html fragment; reloads the page when the
// job finishes, so the server renders its results (the row is the truth).
export function showJobStatus(root, event) {
  const set = (field, apply) => { const el = root.querySelector(`[data-field="${field}"]`); if (el) apply(el); };
  set("status_label", (el) => { el.textContent = event.status_label; el.className = `badge ${event.status}`; });
  set("progress", (el) => { el.value = event.progress; });
  set("percent", (el) => { el.textContent = `${Math.round(event.progress * 100)} %`; });
  set("error", (el) => { el.textContent = event.error; el.hidden = !event.error; });
  const finished = ["succeeded", "failed", "cancelled"].includes(event.status);
  const was = root.dataset.status;
  root.dataset.status = event.status;
  if (finished && was !== event.status && !["succeeded", "failed", "cancelled"].includes(was)) location.reload();
}

export function csrfToken() {
  return document.cookie.split("; ").find((c) => c.startsWith("csrftoken="))?.split("=")[1] ?? "";
}

export async function postJSON(url, body) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
    body: JSON.stringify(body),
  });
  const data = await response.json();
  if (!response.ok) throw new Error(data.error ?? `HTTP ${response.status}`);
  return data;
}

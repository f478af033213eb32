// Saved playground conversations: the JSON API of webapp/playground/conversations.py and the sidebar list.
// The playground page (playground.js) says what a conversation holds; this module stores,
// lists, reopens and deletes them.
import { csrfToken } from "./jobstatus.js";

async function call(url, method = "GET", body = undefined) {
  const headers = { Accept: "application/json", "X-CSRFToken": csrfToken() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(url, { method, headers, body });
  if (response.status === 204) return null;
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error ?? `HTTP ${response.status}`);
  return data;
}

export class Conversations {
  // list: the <ol> to draw into; url: /playground/conversations/; maxBytes: the server's cap.
  constructor(list, { url, maxBytes, onOpen, onDeleted, onError }) {
    Object.assign(this, { list, url, maxBytes, onOpen, onDeleted, onError });
    this.current = null; // {id, mode} of the conversation on screen; null: a new one
    list.addEventListener("click", (event) => this.click(event));
  }

  async refresh() {
    try {
      const { conversations } = await call(this.url);
      this.draw(conversations);
    } catch (error) { this.onError(`Cannot list conversations: ${error.message}`); }
  }

  draw(items) {
    const hint = this.list.parentElement.querySelector("[data-field=no-conversations]");
    if (hint) hint.hidden = items.length > 0;
    this.list.replaceChildren(...items.map((c) => {
      const li = document.createElement("li");
      li.className = "pg-conv";
      li.dataset.id = c.id;
      li.classList.toggle("current", c.id === this.current?.id);
      const open = document.createElement("button");
      open.type = "button";
      open.className = "link pg-conv-open";
      open.dataset.open = c.id;
      open.textContent = c.title;
      open.title = `${c.mode === "chat" ? "Chat" : "Completion"} · saved ${new Date(c.updated_at).toLocaleString()}`;
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "link pg-conv-delete";
      remove.dataset.delete = c.id;
      remove.textContent = "×";
      remove.title = "Delete this conversation";
      remove.setAttribute("aria-label", `Delete “${c.title}”`);
      li.append(open, remove);
      return li;
    }));
  }

  async click(event) {
    const open = event.target.closest("[data-open]");
    const remove = event.target.closest("[data-delete]");
    try {
      if (open) {
        const conversation = await call(`${this.url}${open.dataset.open}/`);
        if (this.onOpen(conversation) === false) return;
        this.current = { id: conversation.id, mode: conversation.mode };
        await this.refresh();
      } else if (remove && confirm("Delete this conversation? This cannot be undone.")) {
        const id = Number(remove.dataset.delete);
        await call(`${this.url}${id}/`, "DELETE");
        if (this.current?.id === id) { this.current = null; this.onDeleted(); }
        await this.refresh();
      }
    } catch (error) { this.onError(error.message); }
  }

  // Saves `conversation` ({mode, model_version, params, messages}) as the current one, or as a
  // new one when there is none or the mode changed. A completion too large for the server
  // drops its tokens' alternatives, then its token records (the text stays).
  async save(conversation) {
    const sameRow = this.current && this.current.mode === conversation.mode;
    const size = (text) => new TextEncoder().encode(text).length;
    let body = JSON.stringify(conversation);
    for (const trim of [(t) => ({ ...t, top: [] }), null]) {
      if (size(body) <= this.maxBytes || conversation.mode !== "completion") break;
      conversation.messages = conversation.messages.map((m) => (m.tokens ? { ...m, tokens: trim ? m.tokens.map(trim) : [] } : m));
      body = JSON.stringify(conversation);
    }
    try {
      const saved = await call(sameRow ? `${this.url}${this.current.id}/` : this.url, sameRow ? "PUT" : "POST", body);
      this.current = { id: saved.id, mode: saved.mode };
      await this.refresh();
    } catch (error) { this.onError(`Not saved: ${error.message}`); }
  }
}

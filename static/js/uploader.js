// Chunked, resumable uploads: the browser half of the protocol in webapp/uploads/views.py.
// A file is sent as slices of `chunk_bytes`, each with its offset; a dropped connection waits
// and asks the server how far it got; a reload resumes when the same file is picked again
// (the server recognises it by name, size and modification time).
const RETRY_DELAYS_S = [1, 2, 4, 8, 15, 30];

class Refused extends Error {}

export class Upload {
  constructor(file, { startUrl, csrf, onChange, kind = "text" }) {
    this.file = file;
    this.kind = kind; // "text" (a corpus) or "conversations" (a JSONL dataset)
    this.startUrl = startUrl;
    this.csrf = csrf;
    this.onChange = onChange;
    this.info = null; // the server's view: id, status, received_bytes, upload_url, ...
    this.state = "waiting"; // waiting | uploading | retrying | paused | done | failed
    this.message = "";
    this.offset = 0;
    this.paused = false;
    this.rate = 0; // bytes per second over the last chunk
  }

  set(state, message = "") {
    this.state = state;
    this.message = message;
    this.onChange(this);
  }

  pause() { this.paused = true; }

  async run() {
    this.paused = false;
    try {
      this.set("uploading");
      if (!this.info || this.info.status !== "uploading") {
        const body = { name: this.file.name, size: this.file.size, last_modified: this.file.lastModified, kind: this.kind };
        this.info = await this.request("POST", this.startUrl, JSON.stringify(body), "application/json");
        this.chunkBytes = this.info.chunk_bytes; // fixed when the upload starts
      }
      this.offset = this.info.received_bytes;
      this.onChange(this);
      while (this.offset < this.file.size) {
        if (this.paused) { this.set("paused"); return; }
        const end = Math.min(this.offset + this.chunkBytes, this.file.size);
        const started = performance.now();
        this.info = await this.request("PUT", `${this.info.upload_url}?offset=${this.offset}`,
                                       this.file.slice(this.offset, end), "application/octet-stream");
        this.rate = (this.info.received_bytes - this.offset) / ((performance.now() - started) / 1000);
        this.offset = this.info.received_bytes;
        this.set("uploading");
      }
      this.set("done");
    } catch (error) {
      if (!(error instanceof Refused)) console.error(error);
      this.set("failed", error.message);
    }
  }

  // One request, retried while the network fails; a 409 with the server's count realigns.
  async request(method, url, body, contentType) {
    for (let attempt = 0; ; attempt++) {
      let response;
      try {
        response = await fetch(url, {
          method, body, credentials: "same-origin",
          headers: { "X-CSRFToken": this.csrf, "Content-Type": contentType, Accept: "application/json" },
        });
      } catch (networkError) {
        await this.waitToRetry(attempt);
        if (method === "PUT") return await this.request("GET", this.info.upload_url);
        continue;
      }
      const answer = await this.parse(response);
      if (response.ok) return answer;
      if (response.status === 409 && answer.received_bytes !== undefined) {
        return { ...this.info, received_bytes: answer.received_bytes }; // resume from the server's count
      }
      if (response.status === 409 && ["validating", "ready", "importing", "imported"].includes(answer.state)) {
        return { ...this.info, status: answer.state, received_bytes: this.file.size }; // it all landed
      }
      // 507: the server's disk is full and it ended the upload; retrying cannot help.
      if (response.status >= 500 && response.status !== 507) { await this.waitToRetry(attempt); continue; }
      throw new Refused(answer.error || `The server answered ${response.status}.`);
    }
  }

  async parse(response) {
    if (!(response.headers.get("Content-Type") || "").includes("application/json")) {
      if (response.redirected) throw new Refused("Your session has ended: sign in again, then drop the file again to resume.");
      return {};
    }
    return response.json();
  }

  async waitToRetry(attempt) {
    const delay = RETRY_DELAYS_S[Math.min(attempt, RETRY_DELAYS_S.length - 1)];
    this.set("retrying", `Connection lost; retrying in ${delay} s…`);
    await new Promise((resolve) => setTimeout(resolve, delay * 1000));
    this.set("uploading");
  }
}

// The playground's token inspector: a token's bytes, its probabilities and the top
// alternatives; clicking one branches (cut the text there, force it, continue). Opened by
// hover, focus or tap on a token of an answer; arrows move between tokens, Enter into the
// alternatives, Esc back (playground.js owns the answers and the socket).
import { spacedHex } from "./live.js";

// A token's background: red (p = 0) through green (p = 1); none for an unscored token.
export const colour = (p) => (p === null ? "transparent" : `hsl(${Math.round(120 * p)} 70% 85%)`);
export const prob = (lp) => (lp === null || lp === undefined ? null : Math.exp(lp));
export const pct = (p) => (p === null ? "–" : p >= 0.001 ? `${(p * 100).toFixed(1)} %` : `${(p * 100).toExponential(1)} %`);
export const num = (x, digits = 3) => (x === null || x === undefined ? "–" : Number(x).toFixed(digits));

export function escape(text) {
  return text.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
}

// root: the page; columnsBox: where answers are drawn; inspector: the popup element;
// columnOf(span): the answer a token belongs to ({tokens}); busy(): an answer is streaming;
// branch(prefixTokens): start a new answer from these tokens.
export function setupInspector({ root, columnsBox, inspector, columnOf, busy, branch }) {
  let hideTimer = null;

  function showInspector(span) {
    const column = columnOf(span);
    if (!column) return;
    const index = Number(span.dataset.index);
    const t = column.tokens[index];
    const rows = t.top.map((alt, j) => `<tr><td><button type="button" class="link" data-alt="${j}" title="Cut the text here, force this token, and continue">${escape(JSON.stringify(alt.text))}</button></td><td>${pct(prob(alt.logprob))}</td><td>${pct(prob(alt.sample_logprob))}</td></tr>`).join("");
    inspector.innerHTML = `
      <p><strong>${escape(JSON.stringify(t.text))}</strong> · id ${t.id} · bytes <code title="The token's raw bytes in hexadecimal">${spacedHex(t.bytes)}</code></p>
      <dl class="stats"><div><dt title="logprob: ln p of this token under the model's own distribution (temperature 1, no top-k/top-p), as a probability">p (model)</dt><dd>${pct(prob(t.logprob))}</dd></div>
      <div><dt title="sample_logprob: ln p under the distribution actually sampled from (after temperature, top-k, top-p, repetition penalty)">p (sampled)</dt><dd>${pct(prob(t.sample_logprob))}</dd></div>
      <div><dt title="logprob: natural log of p (model), in nats">log p (nats)</dt><dd>${num(t.logprob)}</dd></div></dl>
      ${rows ? `<table><thead><tr><th>Alternative</th><th title="p under the model (temperature 1, unfiltered)">p (model)</th><th title="p under the sampled distribution; – = filtered out">p (sampled)</th></tr></thead><tbody>${rows}</tbody></table>` : "<p class=hint>Set “Alternatives per token” above 0 to see them.</p>"}`;
    inspector.onclick = (event) => {
      const button = event.target.closest("[data-alt]");
      if (!button || busy()) return;
      const alt = t.top[Number(button.dataset.alt)];
      const forced = { ...alt, bytes: "", sample_logprob: alt.sample_logprob, top: [] };
      inspector.hidden = true;
      branch([...column.tokens.slice(0, index), forced]);
    };
    const box = span.getBoundingClientRect();
    inspector.style.left = `${window.scrollX + box.left}px`;
    inspector.style.top = `${window.scrollY + box.bottom + 4}px`;
    inspector.hidden = false;
  }

  let shownFor = null; // the token span the inspector describes

  function hideInspector({ refocus = false } = {}) {
    inspector.hidden = true;
    if (refocus && shownFor?.isConnected) shownFor.focus();
  }

  function focusToken(span) {
    for (const other of [...span.closest(".pg-out").querySelectorAll(".pg-token[tabindex='0']")]) other.tabIndex = -1;
    span.tabIndex = 0;
    span.focus();
  }

  columnsBox.addEventListener("mouseover", (event) => {
    const span = event.target.closest(".pg-token");
    if (!span) return;
    clearTimeout(hideTimer);
    showInspector(span);
    shownFor = span;
  });
  columnsBox.addEventListener("mouseout", () => {
    hideTimer = setTimeout(() => {
      const focus = document.activeElement;
      if (!inspector.contains(focus) && !focus?.classList.contains("pg-token")) inspector.hidden = true;
    }, 400);
  });
  columnsBox.addEventListener("focusin", (event) => {
    const span = event.target.closest(".pg-token");
    if (!span) return;
    clearTimeout(hideTimer);
    showInspector(span);
    shownFor = span;
  });
  columnsBox.addEventListener("click", (event) => { // touch: a tap focuses, which opens it
    const span = event.target.closest(".pg-token");
    if (span) focusToken(span);
  });
  columnsBox.addEventListener("keydown", (event) => {
    const span = event.target.closest(".pg-token");
    if (!span) return;
    const tokens = [...span.closest(".pg-out").querySelectorAll(".pg-token")];
    const at = tokens.indexOf(span);
    const to = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: tokens.length - 1 }[event.key];
    if (to !== undefined) {
      event.preventDefault();
      focusToken(tokens[Math.max(0, Math.min(tokens.length - 1, to))]);
    } else if (event.key === "Enter" || event.key === " " || event.key === "ArrowDown") {
      event.preventDefault();
      inspector.querySelector("[data-alt]")?.focus();
    } else if (event.key === "Escape") hideInspector();
  });
  inspector.addEventListener("keydown", (event) => {
    const buttons = [...inspector.querySelectorAll("[data-alt]")];
    const at = buttons.indexOf(document.activeElement);
    if (event.key === "Escape") { event.preventDefault(); hideInspector({ refocus: true }); }
    else if (event.key === "ArrowDown" && at >= 0) { event.preventDefault(); buttons[Math.min(at + 1, buttons.length - 1)].focus(); }
    else if (event.key === "ArrowUp" && at >= 0) {
      event.preventDefault();
      if (at === 0) shownFor?.focus(); else buttons[at - 1].focus();
    }
  });
  // Focus leaving both the tokens and the inspector closes it (hover still opens it).
  root.addEventListener("focusout", (event) => {
    const next = event.relatedTarget;
    const fromHere = event.target.classList?.contains("pg-token") || inspector.contains(event.target);
    if (fromHere && next && !inspector.contains(next) && !next.classList.contains("pg-token")) inspector.hidden = true;
  });
  inspector.addEventListener("mouseenter", () => clearTimeout(hideTimer));
  inspector.addEventListener("mouseleave", () => { if (!inspector.contains(document.activeElement)) inspector.hidden = true; });
}

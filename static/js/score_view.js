// The score mode's answer (the worker's "score" message, webapp/playground/consumers.py): the
// text's tokens coloured by probability, its totals (log p, p, bits, bits per byte) and a
// table of every token's p, loss in nats and bits.
import { colour, escape, num, pct, prob } from "./token_inspector.js";

export function showScore(el, m) {
  const tokens = m.tokens.map((t) => `<span class="pg-token" style="background:${colour(prob(t.logprob))}" title="p = ${pct(prob(t.logprob))} · −ln p = ${num(t.loss)} nats${t.logprob === null ? " · the first token has no context, so it is not scored" : ""}">${escape(t.text)}</span>`).join("");
  const rows = m.tokens.map((t) => `<tr><td><code>${escape(JSON.stringify(t.text))}</code></td><td>${pct(prob(t.logprob))}</td><td>${num(t.loss)}</td><td>${t.loss === null ? "–" : num(t.loss / Math.LN2)}</td></tr>`).join("");
  el.innerHTML = `<h2>${el.querySelector("h2").textContent}</h2>
    <div class="pg-text">${tokens}</div>
    <dl class="stats">
      <div><dt title="ln p(text): the sum of the scored tokens' log-probabilities, in nats (natural log)">log p(text) (nats)</dt><dd data-score="total_logprob">${num(m.total_logprob)}</dd></div>
      <div><dt title="p(text) = e^(log p), the probability of the scored tokens given the first">p(text)</dt><dd>${Math.exp(m.total_logprob).toExponential(3)}</dd></div>
      <div><dt title="−log₂ p(text): the bits the model needs to encode the text">Bits</dt><dd>${num(m.bits, 2)}</dd></div>
      <div><dt title="Bits per UTF-8 byte of the scored tokens: bits ÷ bytes; comparable across tokenizers; lower is better">Bits per byte</dt><dd>${num(m.bpb)}</dd></div>
      <div><dt title="Tokens scored and the UTF-8 bytes they cover: every token, the first one given the beginning-of-text token (only models trained before document boundaries leave the first unscored)">Scored</dt><dd>${m.scored} tokens · ${m.bytes} bytes</dd></div>
    </dl>
    <table class="pg-score-table"><thead><tr><th>Token</th><th title="p(token | the tokens before it), model distribution at temperature 1">p</th><th title="Loss: −ln p(token | before), in nats">−ln p (nats)</th><th title="−log₂ p, in bits">bits</th></tr></thead><tbody>${rows}</tbody></table>`;
}

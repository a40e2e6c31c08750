/**
 * What the two scoring pages share: the surprisal colours (those of the trainer's surprisal page),
 * the legend, and the coloured text with its figures (tokens, mean surprisal, perplexity, bits
 * per byte, time). Each scored span carries data-nats (full precision) and data-bits, for the tests.
 */

export function byId<T extends HTMLElement>(id: string, type: new () => T): T {
  const el = document.getElementById(id);
  if (!(el instanceof type)) throw new Error(`page: no #${id} ${type.name} on the page`);
  return el;
}

/** Surprisal in bits -> background: white (0 bits) through yellow to red (8 bits and more), as on the trainer's page. */
export function surprisalColor(bits: number, maxBits = 8): string {
  const x = Math.max(0, Math.min(1, bits / maxBits));
  const [r, g, b] = x < 0.5 ? [255, 255, 255 - Math.round(2 * x * 200)] : [255, Math.round(255 - (x - 0.5) * 2 * 200), 55];
  return `rgb(${r}, ${g}, ${b})`;
}

/** The legend: the colours of 0 to 8+ bits. */
export function renderLegend(): void {
  byId("legend", HTMLElement).innerHTML = [0, 2, 4, 6, 8].map((b) => `<span class="swatch" style="background:${surprisalColor(b)}">${b}${b === 8 ? "+" : ""} bits</span>`).join("");
}

/** Colour the tokens of #text by surprisal (losses in nats, NaN for an unscored token) and fill the figures. */
export function render(losses: Float64Array, pieces: string[], ms: number): void {
  const textEl = byId("text", HTMLElement);
  const readout = byId("readout", HTMLElement);
  const enc = new TextEncoder();
  let sum = 0;
  let bytes = 0;
  const spans = pieces.map((p, i) => {
    const span = document.createElement("span");
    span.className = "t";
    span.textContent = p;
    const nats = losses[i]!;
    if (Number.isNaN(nats)) {
      span.classList.add("u");
      span.title = "not scored (no history)";
      return span;
    }
    sum += nats;
    bytes += enc.encode(p).length;
    const bits = nats / Math.LN2;
    span.dataset.nats = String(nats);
    span.dataset.bits = bits.toFixed(3);
    span.style.background = surprisalColor(bits);
    span.tabIndex = 0;
    const what = `${JSON.stringify(p)} at ${i}: ${bits.toFixed(2)} bits (${nats.toFixed(2)} nats), p = ${Math.exp(-nats).toPrecision(3)}`;
    span.title = what;
    span.setAttribute("aria-label", what);
    const show = (): void => {
      readout.textContent = `${what}, after …${JSON.stringify(pieces.slice(Math.max(0, i - 24), i).join(""))}`;
    };
    span.addEventListener("focus", show);
    span.addEventListener("mouseenter", show);
    span.addEventListener("click", show);
    return span;
  });
  textEl.replaceChildren(...spans);
  const tokens = Math.max(0, pieces.length - 1);
  const mean = tokens > 0 ? sum / tokens : NaN;
  byId("tokens", HTMLElement).textContent = String(tokens);
  byId("mean", HTMLElement).textContent = tokens > 0 ? `${(mean / Math.LN2).toFixed(3)}` : "–";
  byId("mean-nats", HTMLElement).textContent = tokens > 0 ? `bits/token (${mean.toFixed(3)} nats)` : "";
  byId("perplexity", HTMLElement).textContent = tokens > 0 ? Math.exp(mean).toFixed(3) : "–";
  byId("bpb", HTMLElement).textContent = tokens > 0 ? (sum / Math.LN2 / Math.max(1, bytes)).toFixed(4) : "–";
  byId("time", HTMLElement).textContent = `${ms.toFixed(0)} ms`;
}


/**
 * The loss explainer: five logits as sliders, their softmax as bars, and the cross-entropy loss
 * and its gradient, all recomputed by xent on every change. Opens on the worked example
 * (p = 0.7 on the correct token: 0.357 nats).
 *
 * For the tests, every figure is also on the page at full precision: data-logit, data-p and
 * data-grad on each row, data-nats on #loss.
 */
import { crossEntropy, softmax } from "xent";

const TOKENS = ["cat", "dog", "hat", "mat", "the"];
const V = TOKENS.length;

/** Example distributions: the first probability is the correct token's, the rest go to the others in order. */
const PRESETS: Record<string, number[]> = {
  "0.7": [0.7, 0.1, 0.1, 0.05, 0.05],
  "0.9": [0.9, 0.04, 0.03, 0.02, 0.01],
  "0.2": [0.2, 0.2, 0.2, 0.2, 0.2],
  "0.01": [0.01, 0.9, 0.05, 0.02, 0.02],
};

const state = {
  logits: new Float64Array(V),
  target: 0,
  labelSmoothing: 0,
  zLoss: 0,
};

function byId<T extends HTMLElement>(id: string, type: new () => T): T {
  const el = document.getElementById(id);
  if (!(el instanceof type)) throw new Error(`explainer: no #${id} ${type.name} on the page`);
  return el;
}

/** Logits = ln p: one choice of many (softmax ignores a constant added to every logit). */
function applyPreset(key: string): void {
  const probs = PRESETS[key];
  if (probs === undefined) return;
  const others = Array.from({ length: V }, (_, i) => i).filter((i) => i !== state.target);
  state.logits[state.target] = Math.log(probs[0]!);
  others.forEach((i, k) => (state.logits[i] = Math.log(probs[k + 1]!)));
}

interface Row {
  tr: HTMLTableRowElement;
  radio: HTMLInputElement;
  slider: HTMLInputElement;
  logit: HTMLOutputElement;
  pBar: HTMLElement;
  p: HTMLElement;
  gBar: HTMLElement;
  g: HTMLElement;
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...children);
  return e;
}

function buildRows(tbody: HTMLElement): Row[] {
  return TOKENS.map((token, i) => {
    const radio = el("input", { type: "radio", name: "target", value: String(i) });
    radio.setAttribute("aria-label", `${token} is the correct token`);
    const slider = el("input", { type: "range", min: "-8", max: "8", step: "0.01", id: `logit-${i}` });
    slider.setAttribute("aria-label", `logit of ${token}`);
    const logit = el("output");
    logit.setAttribute("for", `logit-${i}`);
    const pBar = el("span", { className: "bar" });
    const p = el("span", { className: "num" });
    const gBar = el("span", { className: "gbar" });
    const g = el("span", { className: "num" });
    const tr = el(
      "tr",
      {},
      el("td", {}, radio),
      el("td", { className: "token" }, el("code", {}, token)),
      el("td", { className: "slider" }, slider, logit),
      el("td", {}, el("span", { className: "track" }, pBar), p),
      el("td", {}, el("span", { className: "track diverging" }, gBar), g),
    );
    tbody.append(tr);
    radio.addEventListener("change", () => {
      state.target = i;
      render();
    });
    slider.addEventListener("input", () => {
      state.logits[i] = Number(slider.value);
      render();
    });
    return { tr, radio, slider, logit, pBar, p, gBar, g };
  });
}

const fmt = (x: number, digits = 3): string => (Object.is(x, -0) ? 0 : x).toFixed(digits);
/** A signed figure with a true minus sign. */
const signed = (x: number, digits = 3): string => (x > 0 ? "+" : x < 0 ? "−" : "") + fmt(Math.abs(x), digits);

let rows: Row[] = [];

function render(): void {
  const { logits, target, labelSmoothing, zLoss } = state;
  const out = crossEntropy(logits, [target], { classes: V, grad: true, labelSmoothing, zLoss });
  const probs = softmax(logits, { classes: V });
  const nats = out.loss; // a number (the mean), and grad is present: the types follow the options
  const grad = out.grad;
  rows.forEach((r, i) => {
    const z = logits[i]!;
    const p = probs[i]!;
    const g = grad[i]!;
    r.tr.classList.toggle("correct", i === target);
    r.radio.checked = i === target;
    if (document.activeElement !== r.slider) r.slider.value = String(z);
    r.logit.textContent = signed(z, 2);
    r.pBar.style.width = `${(100 * p).toFixed(2)}%`;
    r.p.textContent = fmt(p);
    const half = Math.min(1, Math.abs(g)) * 50;
    r.gBar.style.left = `${g < 0 ? 50 - half : 50}%`;
    r.gBar.style.width = `${half}%`;
    r.gBar.classList.toggle("neg", g < 0);
    r.g.textContent = signed(g);
    r.tr.dataset.logit = String(z);
    r.tr.dataset.p = String(p);
    r.tr.dataset.grad = String(g);
  });
  const loss = byId("loss", HTMLElement);
  loss.textContent = fmt(nats);
  loss.dataset.nats = String(nats);
  byId("loss-bits", HTMLElement).textContent = `(${fmt(nats / Math.LN2)} bits)`;
  const token = TOKENS[target]!;
  const plain = labelSmoothing === 0 && zLoss === 0;
  byId("loss-formula", HTMLElement).textContent = plain
    ? `= −ln p(${token}) = −ln ${fmt(probs[target]!)}; in bits, −log₂ ${fmt(probs[target]!)}`
    : `= (1 − ε)·(−ln p(${token})) + ε·mean over tokens of (−ln p) + z·(ln Σ e^z)², with ε = ${labelSmoothing}, z = ${zLoss}; −ln p(${token}) alone is ${fmt(-Math.log(probs[target]!))}`;
}

function main(): void {
  const tbody = document.querySelector("#tokens tbody");
  if (!(tbody instanceof HTMLElement)) throw new Error("explainer: no #tokens tbody on the page");
  rows = buildRows(tbody);
  applyPreset("0.7");
  document.querySelectorAll<HTMLButtonElement>(".presets button").forEach((b) =>
    b.addEventListener("click", () => {
      applyPreset(b.dataset.p ?? "");
      render();
    }),
  );
  const number = (id: string, set: (x: number) => void, max: number): void => {
    const input = byId(id, HTMLInputElement);
    input.addEventListener("input", () => {
      const x = Number(input.value);
      const ok = input.value.trim() !== "" && x >= 0 && x <= max;
      input.setAttribute("aria-invalid", String(!ok));
      if (!ok) return;
      set(x);
      render();
    });
  };
  number("smoothing", (x) => (state.labelSmoothing = x), 1);
  number("zloss", (x) => (state.zLoss = x), 10);
  render();
  document.body.dataset.ready = "true";
}

main();

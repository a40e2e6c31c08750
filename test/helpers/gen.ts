/**
 * Deterministic float32-exact test inputs; mirrors gen_values/gen_targets in
 * scripts/make_fixtures.py bit for bit, so large fixtures need not store their inputs.
 */

/** `count` values in [-scale, scale], each k/4096·scale for an integer k (float32-exact for small scales). */
export function genValues(count: number, seed: number, scale: number): Float64Array {
  const out = new Float64Array(count);
  const s = Math.imul(seed, 0x9e3779b9) >>> 0;
  for (let k = 0; k < count; k++) {
    let h = Math.imul((k ^ s) >>> 0, 2654435761) >>> 0;
    h = (h ^ (h >>> 16)) >>> 0;
    h = Math.imul(h, 0x85ebca6b) >>> 0;
    h = (h ^ (h >>> 13)) >>> 0;
    out[k] = (((h % 8193) - 4096) / 4096) * scale;
  }
  return out;
}

/** `count` class indices in [0, v). */
/** (n, v) float32 probabilities: |genValues| normalised to sum 1 in each row. */
export function genProbs(n: number, v: number, seed: number): Float32Array {
  const p = new Float32Array(genValues(n * v, seed, 1).map(Math.abs));
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < v; j++) s += p[i * v + j]!;
    for (let j = 0; j < v; j++) p[i * v + j]! /= s;
  }
  return p;
}

export function genTargets(count: number, seed: number, v: number): Int32Array {
  const vals = genValues(count, seed + 7919, 1);
  return Int32Array.from(vals, (x) => Math.min(v - 1, Math.floor(((x + 1) / 2) * v)));
}

/** A small deterministic generator (mulberry32), so that failures reproduce. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

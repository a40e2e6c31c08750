/**
 * The LM head, materialised in float64 for the tfjs ops' checks: logits = hidden (N, D) ·
 * weightᵀ (D, V) + bias, and from a logits gradient G (N, V) the gradients G·weight (N, D),
 * Gᵀ·hidden (V, D) and Σ_rows G (V).
 */
export interface Head {
  n: number;
  d: number;
  v: number;
  hidden: ArrayLike<number>;
  weight: ArrayLike<number>;
  bias?: ArrayLike<number> | undefined;
}

export function headLogits({ n, d, v, hidden, weight, bias }: Head): Float64Array {
  const z = new Float64Array(n * v);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < v; j++) {
      let s = bias === undefined ? 0 : bias[j]!;
      for (let k = 0; k < d; k++) s += hidden[i * d + k]! * weight[j * d + k]!;
      z[i * v + j] = s;
    }
  }
  return z;
}

export function headGradients({ n, d, v, hidden, weight }: Head, G: ArrayLike<number>): { gH: Float64Array; gW: Float64Array; gB: Float64Array } {
  const gH = new Float64Array(n * d);
  const gW = new Float64Array(v * d);
  const gB = new Float64Array(v);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < v; j++) {
      const g = G[i * v + j]!;
      gB[j]! += g;
      for (let k = 0; k < d; k++) {
        gH[i * d + k]! += g * weight[j * d + k]!;
        gW[j * d + k]! += g * hidden[i * d + k]!;
      }
    }
  }
  return { gH, gW, gB };
}

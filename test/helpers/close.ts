/**
 * Tolerance checks: |got - want| <= atol + rtol·|want|, NaN equals NaN, infinities must match
 * exactly. A failure names the label, the index and both values.
 */
import assert from "node:assert/strict";

export interface Tolerance {
  atol: number;
  rtol: number;
}

/** True when got is within tolerance of want (NaN == NaN, ±Infinity exact). */
export function isClose(got: number, want: number, tol: Tolerance): boolean {
  if (Number.isNaN(want) || Number.isNaN(got)) return Number.isNaN(want) && Number.isNaN(got);
  if (!Number.isFinite(want) || !Number.isFinite(got)) return got === want;
  return Math.abs(got - want) <= tol.atol + tol.rtol * Math.abs(want);
}

/** Assert two numbers or arrays agree element-wise; `index` optionally maps positions to labels. */
export function assertClose(
  got: number | ArrayLike<number>,
  want: number | ArrayLike<number>,
  tol: Tolerance,
  label: string,
  index?: ArrayLike<number>,
): void {
  if (typeof want === "number" || typeof got === "number") {
    assert.equal(typeof got, "number", `${label}: got an array, want the number ${String(want)}`);
    assert.equal(typeof want, "number", `${label}: got the number ${String(got)}, want an array`);
    if (!isClose(got as number, want as number, tol)) {
      assert.fail(`${label}: got ${got}, want ${want} (|diff| ${Math.abs((got as number) - (want as number))} > ${tol.atol} + ${tol.rtol}·|want|)`);
    }
    return;
  }
  assert.equal(got.length, want.length, `${label}: length ${got.length}, want ${want.length}`);
  let bad = 0;
  let first = "";
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    if (!isClose(g, w, tol)) {
      if (bad === 0) {
        const at = index === undefined ? i : index[i]!;
        first = `${label}: at index ${at}: got ${g}, want ${w} (|diff| ${Math.abs(g - w)} > ${tol.atol} + ${tol.rtol}·|want|)`;
      }
      bad++;
    }
  }
  if (bad > 0) assert.fail(`${first}; ${bad} of ${want.length} elements out of tolerance`);
}

/** Helpers shared by the `tiny-gpt` commands: one-line usage errors, flag parsing, wording. */

/** A bad flag or input: printed as one line (`tiny-gpt: …`), exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** Parse an integer flag within [min, max]. */
export function parseIntFlag(flag: string, text: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const x = Number(text);
  if (text.trim() === "" || !Number.isInteger(x) || x < min || x > max) {
    throw new UsageError(`${flag} is "${text}"; expected an integer in [${min}, ${max === Number.MAX_SAFE_INTEGER ? "∞" : max}]`);
  }
  return x;
}

/** Parse a number flag within [min, max]. */
export function parseNumberFlag(flag: string, text: string, min: number, max = Infinity): number {
  const x = Number(text);
  if (text.trim() === "" || Number.isNaN(x) || x < min || x > max) {
    throw new UsageError(`${flag} is "${text}"; expected a number in [${min}, ${max}]`);
  }
  return x;
}

/** "1 layer", "2 layers", "1,024 tokens". */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n.toLocaleString("en-US")} ${n === 1 ? one : many}`;
}

/** A duration for a progress bar: "45s", "2m05s", "1h02m" (rounded once, so never "1m60s"). */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "-";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  const m = Math.round(s / 60);
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}

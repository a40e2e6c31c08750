/** Helpers shared by the CLI's subcommands. */

/** A bad argument: printed as one line, exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** Spellings of ±∞ accepted in number lists: inf, +inf, -inf, Infinity, +Infinity, -Infinity. */
const INFINITIES: Record<string, number> = { inf: Infinity, "+inf": Infinity, "-inf": -Infinity, infinity: Infinity, "+infinity": Infinity, "-infinity": -Infinity };

/** Parse a comma-separated list of numbers (±inf included, NaN refused) for the flag `flag`. */
export function parseNumberList(flag: string, text: string): number[] {
  const parts = text.split(",").map((s) => s.trim());
  return parts.map((p, i) => {
    const x = INFINITIES[p.toLowerCase()] ?? Number(p);
    if (p === "" || Number.isNaN(x)) throw new UsageError(`${flag}: item ${i} is "${p}"; expected a number (or inf, -inf)`);
    return x;
  });
}

/** Parse an integer flag within [min, max]. */
export function parseIntFlag(flag: string, text: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const x = Number(text);
  if (!Number.isInteger(x) || x < min || x > max) {
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

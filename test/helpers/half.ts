/**
 * 16-bit floats for tests: float16 and bfloat16 bits from numbers (round to nearest, ties to even,
 * as the webgpu kernel writes its gradient) and back (exact).
 */
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The float16 bits nearest to `x` (as float32 first), ties to even; overflow to ±Infinity, NaN kept. */
export function f16Bits(x: number): number {
  f32[0] = x;
  const b = u32[0]!;
  const sign = (b >>> 16) & 0x8000;
  const e = (b >>> 23) & 0xff;
  const m = b & 0x7fffff;
  if (e === 255) return sign | 0x7c00 | (m !== 0 ? 0x200 : 0);
  const h = e - 112;
  if (h >= 31) return sign | 0x7c00;
  let r: number;
  let rem: number;
  let half: number;
  if (h <= 0) {
    if (h < -10) return sign;
    const mm = m | 0x800000;
    const shift = 14 - h;
    r = mm >>> shift;
    rem = mm & ((1 << shift) - 1);
    half = 1 << (shift - 1);
  } else {
    r = (h << 10) | (m >>> 13);
    rem = m & 0x1fff;
    half = 0x1000;
  }
  return sign | (r + (rem > half || (rem === half && (r & 1) === 1) ? 1 : 0));
}

/** The value of float16 bits. */
export function fromF16(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 31) return m !== 0 ? NaN : sign * Infinity;
  if (e === 0) return sign * m * 2 ** -24;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

/** The bfloat16 bits nearest to `x` (as float32 first), ties to even; NaN kept. */
export function bf16Bits(x: number): number {
  f32[0] = x;
  const b = u32[0]!;
  if ((b & 0x7fffffff) > 0x7f800000) return (b >>> 16) | 0x40;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

/** The value of bfloat16 bits. */
export function fromBf16(h: number): number {
  u32[0] = h << 16;
  return f32[0]!;
}

export type Half = "float16" | "bfloat16";

/** Values as 16-bit bits of `dtype`, and those bits widened back to numbers. */
export function toHalf(dtype: Half, xs: ArrayLike<number>): { bits: Uint16Array; wide: Float64Array } {
  const enc = dtype === "float16" ? f16Bits : bf16Bits;
  const dec = dtype === "float16" ? fromF16 : fromBf16;
  const bits = Uint16Array.from({ length: xs.length }, (_, i) => enc(xs[i]!));
  return { bits, wide: Float64Array.from(bits, dec) };
}

/** 16-bit bits widened to numbers. */
export function fromHalf(dtype: Half, bits: Uint16Array): Float64Array {
  return Float64Array.from(bits, dtype === "float16" ? fromF16 : fromBf16);
}

/**
 * The wasm kernels' float32 exp against float64 Math.exp at every float32 x in [−104, 0] (about
 * 1.1 billion values, 13–16 s on the development machine), in units in the last place of the
 * float32 result: the proof behind the 2 ulp bound that test/backends/wasm/exp.test.ts checks on
 * a sweep. It tests the build the loader picks on this runtime, and says which:
 *
 *   node --import tsx scripts/exp-exhaustive.ts                      # relaxed SIMD (fused multiply-add) where there is one
 *   node --no-enable-fma3 --import tsx scripts/exp-exhaustive.ts     # V8 without FMA3: the plain SIMD build
 *
 * Prints the worst error, where it is, how many x exceed 1.5 ulp, and the eight worst x (the test
 * keeps them as fixed points).
 */
import { WasmInstance } from "../src/backends/wasm/instance.js";
import { detectFeatures } from "../src/backends/wasm/loader.js";

const inst = await WasmInstance.create("own");
const BATCH = 1 << 22;
const src = inst.alloc(BATCH * 4);
const dst = inst.alloc(BATCH * 4);
const end = 0x42d00000 + 1; // the bits of 104: x from −0 down to −104
// ulp of a float32 in the binade of a float64 y, from y's exponent bits (subnormal spacing below 2^−126)
const f64 = new Float64Array(1);
const hi = new Uint32Array(f64.buffer);
const ulpOf = new Float64Array(2048).map((_, e) => (e < 1023 - 126 ? 2 ** -149 : 2 ** (e - 1023 - 23)));
const worst: { err: number; x: number }[] = [];
let over = 0;
let max = 0;
let maxAt = 0;
const t0 = performance.now();
for (let k = 0; k < end; k += BATCH) {
  const n = Math.min(BATCH, end - k);
  const bits = new Uint32Array(inst.buffer(), src, n);
  for (let i = 0; i < n; i++) bits[i] = (0x80000000 + k + i) >>> 0;
  inst.exports.expArray(src, dst, n);
  const x = inst.f32(src, n);
  const y = inst.f32(dst, n);
  for (let i = 0; i < n; i++) {
    const want = Math.exp(x[i]!);
    f64[0] = want;
    const err = Math.abs(y[i]! - want) / ulpOf[(hi[1]! >>> 20) & 0x7ff]!;
    if (err > max) {
      max = err;
      maxAt = x[i]!;
    }
    if (err > 1.5) {
      over++;
      if (worst.length < 8 || err > worst[7]!.err) {
        worst.push({ err, x: x[i]! });
        worst.sort((a, b) => b.err - a.err);
        worst.length = Math.min(worst.length, 8);
      }
    }
  }
}
const build = detectFeatures().relaxedSimd ? "relaxed SIMD (fused multiply-add)" : "plain SIMD";
console.log(`${process.version}, ${build} build: ${end} values of x in [-104, 0] in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
console.log(`worst error ${max} ulp at x = ${maxAt}; ${over} values above 1.5 ulp`);
console.log(`the eight worst x above 1.5 ulp: ${JSON.stringify(worst.map((w) => w.x))}`);

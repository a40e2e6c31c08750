/**
 * The registry: "auto" picks the highest-priority backend that supports the call, an explicit
 * backend that cannot run a call says why, and init() / unregisterBackend / registerBackend stay
 * consistent.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { crossEntropy, init, linearCrossEntropy, listBackends, registerBackend, unregisterBackend, type CrossEntropyArgs } from "../../src/index.js";

const x32 = new Float32Array([0.5, -1, 2, 0.25, 3, -0.5]);
const x64 = Float64Array.from(x32);

test("init() registers wasm; after unregisterBackend('wasm') it is gone, and init() registers it again", async () => {
  assert.equal(await init(), true);
  assert.equal(listBackends()[0], "wasm");
  unregisterBackend("wasm");
  assert.ok(!listBackends().includes("wasm"), "unregistered");
  assert.throws(() => crossEntropy(x32, [0, 1], { classes: 3, backend: "wasm" }), /crossEntropy: unknown backend "wasm"/);
  assert.equal(await init(), true, "init() answers true only with wasm registered");
  assert.deepEqual(listBackends().slice(0, 3), ["wasm", "js", "reference"]);
  assert.equal(await init(), true, "a second init() is harmless");
  assert.equal(listBackends().filter((b) => b === "wasm").length, 1);
});

test('"auto" routes float64 past wasm (float32 only) to js; explicit "wasm" with float64 is a clear error', async () => {
  assert.equal(await init(), true);
  assert.deepEqual(crossEntropy(x64, [0, 1], { classes: 3, grad: true }), crossEntropy(x64, [0, 1], { classes: 3, grad: true, backend: "js" }));
  assert.throws(
    () => crossEntropy(x64, [0, 1], { classes: 3, backend: "wasm" }),
    /^TypeError: crossEntropy: backend "wasm" cannot run float64 crossEntropy: its kernels are float32; expected backend "auto"/,
  );
  const h = new Float64Array([1, 2, 3, 4]);
  assert.throws(() => linearCrossEntropy(h, h, [0, 1], { backend: "wasm" }), /linearCrossEntropy: backend "wasm" cannot run float64 linearCrossEntropy/);
  // float32 under "auto" runs wasm: bitwise what the explicit wasm backend gives
  assert.deepEqual(crossEntropy(x32, [0, 1], { classes: 3, grad: true }), crossEntropy(x32, [0, 1], { classes: 3, grad: true, backend: "wasm" }));
});

test("a registered backend ranks by priority and is asked what it supports; a plain { name, crossEntropy } still registers", () => {
  const seen: string[] = [];
  const f64Only = {
    name: "f64-only",
    priority: 500,
    supports: (c: { dtype: string }) => (c.dtype === "float64" ? (true as const) : "float64 only"),
    crossEntropy(args: CrossEntropyArgs) {
      seen.push("f64-only");
      return { loss: 42, rowLoss: new Float64Array(args.n), lse: new Float64Array(args.n) };
    },
  };
  registerBackend(f64Only);
  try {
    assert.equal(listBackends()[0], "f64-only");
    assert.equal(crossEntropy(x64, [0, 1], { classes: 3 }).loss, 42, "float64 goes to the highest-priority backend that supports it");
    assert.notEqual(crossEntropy(x32, [0, 1], { classes: 3 }).loss, 42, "float32 skips it");
    assert.deepEqual(seen, ["f64-only"]);
    assert.throws(() => crossEntropy(x32, [0, 1], { classes: 3, backend: "f64-only" }), /backend "f64-only" cannot run float32 crossEntropy: float64 only/);
    assert.throws(() => linearCrossEntropy(x64, x64, [0], { backend: "f64-only" }), /backend "f64-only" cannot run float64 linearCrossEntropy: it has no synchronous linearCrossEntropy kernel/);
    assert.throws(() => registerBackend(f64Only), /a backend named "f64-only" is already registered/);
  } finally {
    unregisterBackend("f64-only");
  }
  const plain = { name: "plain", crossEntropy: (args: CrossEntropyArgs) => ({ loss: 7, rowLoss: new Float64Array(args.n), lse: new Float64Array(args.n) }) };
  registerBackend(plain);
  try {
    assert.equal(crossEntropy(x32, [0, 1], { classes: 3 }).loss, 7, "without a priority it ranks above the built-in backends");
    assert.notEqual(linearCrossEntropy(x32, x32, [0, 0]).loss, 7, "it has no linear kernel, so auto passes it by");
  } finally {
    unregisterBackend("plain");
  }
  assert.ok(!listBackends().includes("plain"));
});

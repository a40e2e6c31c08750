/**
 * tfjs set-up for the trainer: gradients and the cpu backend come with `@tensorflow/tfjs`, the
 * WebAssembly backend (XNNPACK, SIMD) with `@tensorflow/tfjs-backend-wasm`. The wasm backend is
 * the default: on the small model it trains about 18× faster than the pure-JS cpu backend, with
 * the same losses (see the README beside src/ and `npm run bench:trainer` at the repository root).
 */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";

export type TfBackend = "wasm" | "cpu";

export async function setupTf(backend: TfBackend = "wasm"): Promise<void> {
  if (!tf.env().getBool("PROD")) tf.enableProdMode(); // no debug checks, no "install tfjs-node" banner
  if (tf.getBackend() === backend) return;
  const ok = await tf.setBackend(backend);
  if (!ok) throw new Error(`tfjs backend "${backend}" failed to initialise`);
  await tf.ready();
}

/**
 * Backend registry: name -> backend, ranked by priority. "auto" is the highest-priority backend
 * whose `supports` accepts the call; an explicit name that does not support a call is an error
 * that says why. A new backend is one folder and one line here. Nothing is registered at import
 * time beyond this constant table: the synchronous "wasm" backend is registered by `init()`,
 * because it needs an asynchronously compiled module.
 */
import { jsBackend } from "./js/index.js";
import { referenceBackend } from "./reference/index.js";
import type { Backend, CallShape, Executor, ExecutorOptions } from "./types.js";
import { wasmBackend } from "./wasm/index.js";
import { webgpuBackend } from "./webgpu/backend.js";

/** Backends that are always available, and wasm, which init() registers and engines may use without it. */
const builtIn: readonly Backend[] = [jsBackend, referenceBackend];
/** Backends with an executor only (no synchronous kernels), created by name: never "auto" (see webgpu/index.ts). */
const engineOnly: readonly Backend[] = [webgpuBackend];
/** Priority of a registered backend that does not state one: above every built-in. */
const DEFAULT_PRIORITY = 100;

const extra = new Map<string, Backend>();

/**
 * Make a backend available by name. Without a `priority`, it ranks above the built-in backends,
 * later registrations first. Throws on a duplicate name.
 */
export function registerBackend(backend: Backend): void {
  if (typeof backend !== "object" || backend === null || typeof backend.name !== "string") {
    throw new TypeError("registerBackend: backend is not an object with a name; expected { name, crossEntropy, ... }");
  }
  if (extra.has(backend.name) || builtIn.some((b) => b.name === backend.name) || engineOnly.some((b) => b.name === backend.name)) {
    throw new Error(`registerBackend: a backend named "${backend.name}" is already registered`);
  }
  extra.set(backend.name, backend);
}

/** Remove a backend registered with registerBackend or init() (built-in ones stay). */
export function unregisterBackend(name: string): void {
  extra.delete(name);
}

/** The registered backends, highest priority first (ties: the later registration first). */
function ranked(): Backend[] {
  const all = [...[...extra.values()].reverse(), ...builtIn];
  return all
    .map((b, k) => ({ b, k, p: b.priority ?? DEFAULT_PRIORITY }))
    .sort((x, y) => y.p - x.p || x.k - y.k)
    .map((e) => e.b);
}

/** Names of the available backends, fastest first. */
export function listBackends(): string[] {
  return ranked().map((b) => b.name);
}

const names = (list: readonly Backend[]): string => list.map((b) => `"${b.name}"`).join(", ");

function byName(fn: string, name: string, list: readonly Backend[]): Backend {
  const found = list.find((b) => b.name === name);
  if (found === undefined) {
    throw new RangeError(`${fn}: unknown backend "${name}"; expected one of ${names(list)}, or "auto"`);
  }
  return found;
}

/** The backend's verdict on a call: true, or why not. */
function verdict(b: Backend, call: CallShape): true | string {
  if (b[call.kernel] === undefined) return `it has no synchronous ${call.kernel} kernel`;
  return b.supports === undefined ? true : b.supports(call);
}

/**
 * The backend that runs a synchronous call: the named one (an error when it cannot run this
 * call, saying why), or for "auto" the highest-priority one that supports it. The returned
 * backend has the call's kernel.
 */
export function backendFor(fn: string, name: string, call: CallShape): Backend {
  const list = ranked();
  if (name !== "auto" && !list.some((b) => b.name === name) && engineOnly.some((b) => b.name === name)) {
    throw new TypeError(`${fn}: backend "${name}" runs only in an engine (await createEngine({ backend: "${name}" })); expected "auto" or one of ${names(list)}`);
  }
  const candidates = name === "auto" ? list.filter((b) => b.auto !== false) : [byName(fn, name, list)];
  const reasons: string[] = [];
  for (const b of candidates) {
    const ok = verdict(b, call);
    if (ok === true) return b;
    reasons.push(name === "auto" ? `"${b.name}": ${ok}` : ok);
  }
  const what = `${call.dtype} ${call.kernel}`;
  throw new TypeError(
    name === "auto"
      ? `${fn}: no registered backend runs ${what} (${reasons.join("; ")}); expected a backend that supports the call`
      : `${fn}: backend "${name}" cannot run ${what}: ${reasons.join("; ")}; expected backend "auto" or one that supports the call`,
  );
}

/** Backends that can make executors (engines): the registered ones and wasm, fastest first. */
function executorBackends(): Backend[] {
  const list = ranked().filter((b) => b.createExecutor !== undefined && b.name !== wasmBackend.name);
  list.push(wasmBackend, ...engineOnly);
  return list.sort((x, y) => (y.priority ?? DEFAULT_PRIORITY) - (x.priority ?? DEFAULT_PRIORITY));
}

/** Names createEngine accepts besides "auto". */
export function executorNames(): string[] {
  return executorBackends().map((b) => b.name);
}

/**
 * A new executor: the named backend's, or for "auto" the fastest that runs float32 cross-entropy
 * here, among those "auto" may pick. Throws when the named backend cannot run in this runtime,
 * saying why.
 */
export async function createExecutor(fn: string, name: string, options: ExecutorOptions): Promise<Executor> {
  const probe: CallShape = { kernel: "crossEntropy", dtype: "float32", n: 1, v: 1, d: 0, grad: false };
  const list = executorBackends();
  const candidates = name === "auto" ? list.filter((b) => b.auto !== false) : [byName(fn, name, list)];
  for (const b of candidates) {
    const ok = b.supports === undefined ? true : b.supports(probe);
    if (ok === true) return b.createExecutor!(options);
    if (name !== "auto") throw new Error(`${fn}: backend "${name}" cannot run here: ${ok}; expected backend "auto" or "js"`);
  }
  throw new Error(`${fn}: no backend can run here; expected at least the js backend`);
}

/**
 * Make the synchronous "wasm" backend available (and the default for "auto").
 * Resolves to true when it is registered, false when this runtime lacks WASM SIMD (the js
 * backend stays the default). Safe to call more than once, and again after
 * unregisterBackend("wasm"), which it undoes.
 */
export async function init(): Promise<boolean> {
  if (!(await wasmBackend.load())) return false;
  if (!extra.has(wasmBackend.name)) registerBackend(wasmBackend);
  return true;
}

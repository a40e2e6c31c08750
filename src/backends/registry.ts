/**
 * Backend registry: name -> backend, in priority order for "auto".
 * A new backend is one folder and one line here. Nothing is registered at import time beyond
 * this constant table; backends that need async setup (wasm, webgpu) register when initialised.
 */
import { jsBackend } from "./js/index.js";
import { referenceBackend } from "./reference/index.js";
import type { Backend } from "./types.js";

const builtIn: readonly Backend[] = [jsBackend, referenceBackend];
const extra = new Map<string, Backend>();

/** Make a backend available by name; later registrations take priority in "auto". Throws on a duplicate name. */
export function registerBackend(backend: Backend): void {
  if (extra.has(backend.name) || builtIn.some((b) => b.name === backend.name)) {
    throw new Error(`registerBackend: a backend named "${backend.name}" is already registered`);
  }
  extra.set(backend.name, backend);
}

/** Remove a backend registered with registerBackend (built-in ones stay). */
export function unregisterBackend(name: string): void {
  extra.delete(name);
}

/** Names of the available backends, fastest first. */
export function listBackends(): string[] {
  return [...[...extra.values()].reverse(), ...builtIn].map((b) => b.name);
}

/** The backend for a name, or the fastest available for "auto". Throws for an unknown name. */
export function getBackend(name = "auto"): Backend {
  if (name === "auto") {
    const last = [...extra.values()].at(-1);
    return last ?? jsBackend;
  }
  const found = extra.get(name) ?? builtIn.find((b) => b.name === name);
  if (found === undefined) {
    throw new RangeError(`backend: unknown backend "${name}"; expected one of ${listBackends().map((b) => `"${b}"`).join(", ")}, or "auto"`);
  }
  return found;
}

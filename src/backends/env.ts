/**
 * What the runtime offers, probed in one place: Node or a browser, shared memory, cross-origin
 * isolation, and the CPU count. Nothing runs at import time; each probe is cheap and cached
 * where it can be.
 */

/** True in Node (worker_threads, node:os); false in browsers and other runtimes. */
export function isNode(): boolean {
  return typeof process === "object" && process !== null && typeof process.versions?.node === "string";
}

/**
 * True where shared memory can be used across threads: SharedArrayBuffer exists and, in a
 * browser page, the page is cross-origin isolated (outside a page, e.g. Node, no isolation is needed).
 */
export function sharedMemoryAvailable(): boolean {
  if (typeof SharedArrayBuffer !== "function") return false;
  const g: { crossOriginIsolated?: unknown; window?: unknown } = globalThis;
  return g.window === undefined || g.crossOriginIsolated === true;
}

let cpus: Promise<number> | null = null;

/** Logical CPUs: navigator.hardwareConcurrency in browsers, os.availableParallelism() in Node, else 1. */
export function cpuCount(): Promise<number> {
  cpus ??= (async () => {
    const nav: { navigator?: { hardwareConcurrency?: unknown } } = globalThis;
    const hc = nav.navigator?.hardwareConcurrency;
    if (typeof hc === "number" && hc >= 1) return hc;
    if (isNode()) {
      const spec = "node:os"; // a variable, so that bundlers for the browser leave it alone
      const os: typeof import("node:os") = await import(spec);
      return Math.max(1, os.availableParallelism());
    }
    return 1;
  })();
  return cpus;
}

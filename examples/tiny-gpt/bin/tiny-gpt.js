#!/usr/bin/env node
// The `tiny-gpt` command: runs the build in dist/ (`npm run build` at the repository root makes it).
import { existsSync } from "node:fs";

const main = new URL("../dist/main.js", import.meta.url);
if (!existsSync(main)) {
  process.stderr.write("tiny-gpt: not built yet; run npm run build at the repository root first\n");
  process.exit(2);
}
await import(main.href);

/**
 * Headless Chromium with WebGPU for the browser tests of the webgpu backend: Debian's
 * /usr/bin/chromium (or $CHROMIUM_PATH) through playwright-core, with --enable-unsafe-webgpu on
 * SwiftShader, and a page served from localhost (WebGPU needs a secure context).
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { build } from "esbuild";
import { chromium, type Page } from "playwright-core";

/**
 * Bundle `entry` (module source resolved from the repository root) with esbuild and serve it as
 * /xent.js, beside a page running `script` (a module script that imports from "/xent.js" and sets
 * `window.ready`); `body` gets a function that opens a new page there, ready. Everything is closed
 * when `body` settles.
 */
export async function withWebGpuPage<T>(entry: string, script: string, body: (open: () => Promise<Page>) => Promise<T>): Promise<T> {
  const bundle = await build({
    stdin: { contents: entry, resolveDir: process.cwd(), loader: "ts" },
    bundle: true,
    format: "esm",
    platform: "browser",
    write: false,
    logLevel: "silent",
  });
  const js = bundle.outputFiles[0]!.text;
  const page = `<!doctype html><meta charset="utf-8"><title>xent webgpu</title><script type="module">${script}</script>`;
  const server = createServer((req, res) => {
    const isJs = req.url === "/xent.js";
    res.writeHead(200, { "content-type": isJs ? "text/javascript" : "text/html" });
    res.end(isJs ? js : page);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    args: ["--enable-unsafe-webgpu", "--disable-dev-shm-usage", "--enable-features=Vulkan", "--use-webgpu-adapter=swiftshader"],
  });
  try {
    return await body(async () => {
      const p = await browser.newPage();
      p.on("pageerror", (e) => console.error(`page error: ${e.message}`));
      await p.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
      await p.waitForFunction(() => "ready" in window);
      return p;
    });
  } finally {
    await browser.close();
    server.close();
  }
}

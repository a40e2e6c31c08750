/**
 * Open a local HTML page in headless Chromium (Debian's /usr/bin/chromium, driven by
 * playwright-core; no browser is ever downloaded) and save a PNG screenshot. Used by the
 * trainer's surprisal-page test and to make docs/img/surprisal.png:
 *   node --import tsx scripts/screenshot.ts runs/score/surprisal.html docs/img/surprisal.png
 */
import { pathToFileURL } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

export interface PageOptions {
  width?: number;
  /** Emulate a touch screen (for page.tap). */
  hasTouch?: boolean;
}

export async function withPage<T>(htmlPath: string, fn: (page: Page) => Promise<T>, options: PageOptions = {}): Promise<T> {
  const browser: Browser = await chromium.launch({
    executablePath: CHROMIUM,
    // running as root in CI containers needs --no-sandbox; the GPU is not needed for a static page
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  try {
    const page = await browser.newPage({ viewport: { width: options.width ?? 900, height: 600 }, hasTouch: options.hasTouch === true });
    await page.goto(pathToFileURL(htmlPath).href);
    return await fn(page);
  } finally {
    await browser.close();
  }
}

export async function screenshot(htmlPath: string, pngPath: string, width = 900): Promise<void> {
  await withPage(htmlPath, async (page) => {
    await page.screenshot({ path: pngPath, fullPage: true });
  }, { width });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const [html, png] = process.argv.slice(2);
  if (html === undefined || png === undefined) {
    console.error("usage: node --import tsx scripts/screenshot.ts PAGE.html OUT.png");
    process.exit(2);
  }
  await screenshot(html, png);
}

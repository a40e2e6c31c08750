/**
 * Every relative link and anchor in the repository's Markdown files resolves: the file (or
 * folder) exists, and a `#fragment` names a heading or an HTML id of the target document.
 * External links (http, https, mailto) are not fetched. The documents also speak to a reader of
 * this repository alone: no pointers at design notes that are not part of it.
 */
import assert from "node:assert/strict";
import { existsSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { test } from "node:test";
import { anchors, links, markdownFiles, prose, read, root, slug } from "./markdown.js";

const files = markdownFiles();

test("the link checker finds the documents and their headings", () => {
  assert.ok(files.includes("README.md") && files.some((f) => f.startsWith("docs/")), files.join(", "));
  assert.equal(slug("`xent/tfjs`: the loss in your TensorFlow.js models"), "xenttfjs-the-loss-in-your-tensorflowjs-models");
  assert.equal(slug("Edge behaviour (all tested against PyTorch)"), "edge-behaviour-all-tested-against-pytorch");
  assert.equal(slug('With a plain `<script type="module">`'), "with-a-plain-script-typemodule");
  assert.deepEqual([...anchors("# A\n## A\n```\n# not a heading\n```\n<a id=\"x\"></a>")], ["a", "a-1", "x"]);
  assert.deepEqual(
    links("[a](b.md#c) ![i](img/p.png \"t\") `[no](code.md)`\n[ref]: ./r.md\n<img src=\"s.svg\">").map((l) => l.target),
    ["b.md#c", "img/p.png", "./r.md", "s.svg"],
  );
});

test("every relative link and anchor in *.md resolves", () => {
  const broken: string[] = [];
  let checked = 0;
  for (const file of files) {
    const text = read(file);
    for (const { target, line } of links(text)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, https:, mailto:
      checked++;
      const [pathPart, fragment] = target.split("#", 2) as [string, string | undefined];
      const where = `${file}:${line}: ${target}`;
      const abs = pathPart === "" ? join(root, file) : join(root, dirname(file), decodeURIComponent(pathPart));
      if (pathPart.startsWith("/")) {
        broken.push(`${where} (absolute path; use a relative one)`);
        continue;
      }
      if (relative(root, abs).startsWith("..")) {
        broken.push(`${where} (points outside the repository)`);
        continue;
      }
      if (!existsSync(abs)) {
        broken.push(`${where} (no such file)`);
        continue;
      }
      if (fragment !== undefined && fragment !== "") {
        if (!abs.endsWith(".md") || statSync(abs).isDirectory()) {
          broken.push(`${where} (an anchor into a file that is not Markdown)`);
          continue;
        }
        const have = anchors(read(relative(root, abs)));
        if (!have.has(decodeURIComponent(fragment))) broken.push(`${where} (no heading with anchor #${fragment})`);
      }
    }
  }
  assert.ok(checked > 20, `only ${checked} relative links found`);
  assert.deepEqual(broken, [], `broken links:\n${broken.join("\n")}`);
});

test("no document points at notes outside the repository", () => {
  const bad: string[] = [];
  for (const file of files) {
    prose(read(file))
      .split("\n")
      .forEach((l, i) => {
        const m = /design\.md|design §|\.\.\/shared|\bthe issue\b|\bissue \d/i.exec(l);
        if (m !== null) bad.push(`${file}:${i + 1}: "${m[0]}"`);
      });
  }
  assert.deepEqual(bad, []);
});

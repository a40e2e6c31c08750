/**
 * Small Markdown helpers for the docs checks: find the repository's Markdown files, their fenced
 * code blocks, their links and their heading anchors (GitHub's slugs).
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

export const root = fileURLToPath(new URL("../..", import.meta.url));

const SKIP_DIRS = new Set(["node_modules", "dist", "runs", "tmp", ".git", ".bench-out"]);

/** Every *.md file of the repository (paths relative to the root, sorted), build outputs excluded. */
export function markdownFiles(dir = root): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    if (SKIP_DIRS.has(name)) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...markdownFiles(p));
    else if (name.endsWith(".md")) out.push(relative(root, p));
  }
  return out.sort();
}

export interface CodeBlock {
  /** The info string's first word, lower-cased ("ts", "sh", "" when none). */
  lang: string;
  /** 1-based line of the block's first content line in the Markdown file. */
  line: number;
  code: string;
}

const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([^\s`]*)/;

/** The fenced code blocks of a Markdown text. */
export function codeBlocks(text: string): CodeBlock[] {
  const lines = text.split("\n");
  const blocks: CodeBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i]!);
    if (open === null) continue;
    const fence = open[1]!;
    const body: string[] = [];
    let j = i + 1;
    while (j < lines.length && !lines[j]!.trimStart().startsWith(fence)) body.push(lines[j++]!);
    blocks.push({ lang: open[2]!.toLowerCase(), line: i + 2, code: body.join("\n") });
    i = j;
  }
  return blocks;
}

/** The text with fenced code blocks blanked (line numbers kept) and, unless kept, inline code spans removed. */
export function prose(text: string, keepInlineCode = false): string {
  const lines = text.split("\n");
  let fence: string | null = null;
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i]!);
    if (fence === null && open !== null) {
      fence = open[1]!;
      lines[i] = "";
    } else if (fence !== null) {
      if (lines[i]!.trimStart().startsWith(fence)) fence = null;
      lines[i] = "";
    } else if (!keepInlineCode) {
      lines[i] = lines[i]!.replace(/(`+)[^`]*?\1/g, "");
    }
  }
  return lines.join("\n");
}

export interface Link {
  target: string;
  line: number;
}

/** Inline links and images, reference definitions, and HTML href/src attributes outside code. */
export function links(text: string): Link[] {
  const out: Link[] = [];
  prose(text)
    .split("\n")
    .forEach((l, i) => {
      for (const m of l.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) out.push({ target: m[1]!, line: i + 1 });
      const def = /^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/.exec(l);
      if (def !== null) out.push({ target: def[1]!, line: i + 1 });
      for (const m of l.matchAll(/\b(?:href|src)\s*=\s*"([^"]+)"/g)) out.push({ target: m[1]!, line: i + 1 });
    });
  return out;
}

/** GitHub's anchor for a heading text: lower case, punctuation dropped, spaces to hyphens. */
export function slug(heading: string): string {
  // code spans keep their text as written; elsewhere links and images keep their text, and
  // inline HTML tags and emphasis marks go
  const text = heading
    .split(/(`+[^`]*`+)/)
    .map((part, i) =>
      i % 2 === 1
        ? part.replace(/`/g, "")
        : part
            .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1")
            .replace(/<[^>]+>/g, "")
            .replace(/\*/g, ""),
    )
    .join("");
  return text
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\p{M}\p{Pc} -]/gu, "")
    .replace(/ /g, "-");
}

/** The anchors a Markdown text defines: its headings' slugs (numbered when repeated) and HTML ids. */
export function anchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const l of prose(text, true).split("\n")) {
    const h = /^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(l);
    if (h !== null) {
      const base = slug(h[1]!);
      const n = seen.get(base) ?? 0;
      seen.set(base, n + 1);
      out.add(n === 0 ? base : `${base}-${n}`);
    }
    for (const m of l.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) out.add(m[1]!);
  }
  return out;
}

export function read(rel: string): string {
  return readFileSync(join(root, rel), "utf8");
}

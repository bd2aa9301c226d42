// Prints the console's first-load size, gzipped as the server sends it, and
// fails (exit 1) over the budget: 400 KiB gzipped (issue #23).
//
// "First load" is index.html, the entry script and stylesheet, and the
// chunks the entry imports statically, plus the heaviest page: whichever
// page a first visit lands on, its chunk and everything that chunk imports
// statically (shared chunks counted once). Pages are the lazily imported
// `*Page-<hash>.js` chunks.
import { readFileSync, readdirSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { join } from "node:path";

const BUDGET = 400 * 1024;
const dist = new URL("../dist/", import.meta.url).pathname;
const sizes = new Map();
const gz = (file) => {
  if (!sizes.has(file)) sizes.set(file, gzipSync(readFileSync(join(dist, file)), { level: 9 }).length);
  return sizes.get(file);
};
const kib = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`;

/** `file` and every chunk it imports statically, transitively. */
function closure(file, into = new Set()) {
  if (into.has(file)) return into;
  into.add(file);
  if (!file.endsWith(".js")) return into;
  const text = readFileSync(join(dist, file), "utf8");
  // Static imports only: `import{…}from"./x.js"` and `import"./x.js"`.
  for (const m of text.matchAll(/(?:^|[;\s}])import\s*(?:[^"'()]*?from\s*)?["']\.\/([^"']+\.js)["']/g)) closure(`assets/${m[1]}`, into);
  return into;
}

const html = readFileSync(join(dist, "index.html"), "utf8");
const entry = new Set(["index.html"]);
for (const m of html.matchAll(/(?:src|href)="\/ui\/(assets\/[^"]+\.(?:js|css))"/g)) closure(m[1], entry);
const sum = (files) => [...files].reduce((n, f) => n + gz(f), 0);

const pages = readdirSync(join(dist, "assets"))
  .filter((f) => /Page-[\w-]+\.js$/.test(f))
  .map((f) => {
    const files = new Set([...closure(`assets/${f}`)].filter((x) => !entry.has(x)));
    return { page: f.replace(/-[\w-]+\.js$/, ""), files, size: sum(files) };
  })
  .sort((a, b) => b.size - a.size);

console.log("entry (gzipped):");
for (const f of entry) console.log(`  ${kib(gz(f)).padStart(10)}  ${f}`);
console.log("each page on top of the entry (gzipped, with its own imports):");
for (const p of pages) console.log(`  ${kib(p.size).padStart(10)}  ${p.page}`);
const heaviest = pages[0];
const total = sum(entry) + (heaviest?.size ?? 0);
console.log(`first load, worst case (entry + ${heaviest?.page ?? "no page"}): ${kib(total)} gzipped; budget ${kib(BUDGET)}`);
if (total > BUDGET) {
  console.error(`the console's first load is ${kib(total)} gzipped, over the ${kib(BUDGET)} budget`);
  process.exit(1);
}

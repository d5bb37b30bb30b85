/**
 * Builds t.js: src/browser.ts bundled and minified for browsers into dist/t.js, and dist/script.js
 * (`export default "<t.js>"`, `version`) that the edge worker imports to serve it. Prints the size.
 */
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";

const dir = import.meta.dirname;
const result = await build({
  entryPoints: [resolve(dir, "src/browser.ts")],
  bundle: true,
  minify: true,
  format: "iife",
  target: ["es2020"],
  write: false,
  legalComments: "none",
});
const code = result.outputFiles[0]?.text ?? "";
const version = createHash("sha256").update(code).digest("hex").slice(0, 16);
mkdirSync(resolve(dir, "dist"), { recursive: true });
writeFileSync(resolve(dir, "dist/t.js"), code);
writeFileSync(
  resolve(dir, "dist/script.js"),
  `export default ${JSON.stringify(code)};\nexport const version = ${JSON.stringify(version)};\n`,
);
console.log(`t.js: ${code.length} bytes, ${gzipSync(code, { level: 9 }).length} bytes gzipped (${version})`);

import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import type { Context } from "hono";
import type { RegisterRoute } from "./index";

/**
 * The dashboard: static files served by the API itself at `/`, with no build step. The page's own
 * modules are in `api/src/dashboard/`; Preact, htm and uPlot come straight from node_modules, so
 * the page loads nothing from any other origin (its Content-Security-Policy says so too). It reads
 * only the public report routes, with the API key the user signs in with.
 */

interface Asset {
  type: string;
  body: Buffer;
  gzip: Buffer;
  etag: string;
}

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
};

function asset(file: string | URL): Asset {
  const path = typeof file === "string" ? file : fileURLToPath(file);
  const body = readFileSync(path);
  const extension = path.slice(path.lastIndexOf("."));
  return {
    type: TYPES[extension] ?? "application/octet-stream",
    body,
    gzip: gzipSync(body, { level: 9 }),
    etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`,
  };
}

const own = (name: string) => asset(new URL(`../dashboard/${name}`, import.meta.url));
const installed = (specifier: string) => asset(new URL(import.meta.resolve(specifier)));

/** The page's own modules, by the path the browser asks for. */
const OWN_FILES = [
  "app.js",
  "api.js",
  "format.js",
  "period.js",
  "charts.js",
  "components.js",
  "views/overview.js",
  "views/step.js",
  "views/dropoffs.js",
  "views/conversions.js",
  "views/journey.js",
  "views/revenue.js",
  "views/ab-tests.js",
  "views/realtime.js",
  "views/export.js",
  "styles.css",
];

/** Every script of the page as one inline import map names it; the CSP allows that map by its hash. */
const VENDOR: Record<string, string> = {
  "preact.mjs": "preact",
  "hooks.mjs": "preact/hooks",
  "htm.mjs": "htm",
  "uplot.js": "uplot/dist/uPlot.iife.min.js",
  "uplot.css": "uplot/dist/uPlot.min.css",
};

function loadAssets(): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const name of OWN_FILES) assets.set(`/dashboard/${name}`, own(name));
  for (const [name, specifier] of Object.entries(VENDOR)) {
    assets.set(`/dashboard/vendor/${name}`, installed(specifier));
  }
  return assets;
}

function contentSecurityPolicy(html: string): string {
  const inline = [...html.matchAll(/<script type="importmap">([\s\S]*?)<\/script>/g)].map(
    (m) =>
      `'sha256-${createHash("sha256")
        .update(m[1] ?? "")
        .digest("base64")}'`,
  );
  return [
    "default-src 'none'",
    `script-src 'self' ${inline.join(" ")}`,
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "font-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join("; ");
}

function send(c: Context, file: Asset, headers: Record<string, string> = {}) {
  c.header("content-type", file.type);
  c.header("etag", file.etag);
  c.header("cache-control", "no-cache");
  c.header("vary", "accept-encoding");
  c.header("x-content-type-options", "nosniff");
  for (const [name, value] of Object.entries(headers)) c.header(name, value);
  if (c.req.header("if-none-match") === file.etag) return c.body(null, 304);
  if (/\bgzip\b/.test(c.req.header("accept-encoding") ?? "")) {
    c.header("content-encoding", "gzip");
    return c.body(new Uint8Array(file.gzip));
  }
  return c.body(new Uint8Array(file.body));
}

const register: RegisterRoute = (app) => {
  const assets = loadAssets();
  const page = own("index.html");
  const pageHeaders = {
    "content-security-policy": contentSecurityPolicy(page.body.toString("utf8")),
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
  };
  app.get("/", (c) => send(c, page, pageHeaders));
  app.get("/dashboard/*", (c, next) => {
    const file = assets.get(c.req.path);
    return file ? send(c, file) : next();
  });
};

export default register;

import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { promisify } from "node:util";
import { gzip } from "node:zlib";
import { Scalar } from "@scalar/hono-api-reference";
import type { RegisterRoute } from "./index";

const OPENAPI_PATH = "/openapi.json";

/**
 * The reference UI is @scalar/api-reference's standalone bundle, pinned in api/package.json and
 * served by the API itself: /docs loads nothing from another origin, so it works offline and
 * behind a firewall. The version is in its path, so browsers may keep it for a year.
 */
const reference = new URL(import.meta.resolve("@scalar/api-reference"));
const referenceVersion = (
  JSON.parse(readFileSync(new URL("../package.json", reference), "utf8")) as { version: string }
).version;
export const REFERENCE_BUNDLE_PATH = `/docs/assets/api-reference-${referenceVersion}.js`;

interface Bundle {
  body: Uint8Array<ArrayBuffer>;
  gzip: Uint8Array<ArrayBuffer>;
}

let bundle: Promise<Bundle> | undefined;

/** Read and compressed on first use (5 MB, 1 MB gzipped), not at boot: most processes never serve it. */
function referenceBundle(): Promise<Bundle> {
  bundle ??= (async () => {
    const body = await readFile(new URL("./browser/standalone.js", reference));
    return { body: new Uint8Array(body), gzip: new Uint8Array(await promisify(gzip)(body, { level: 9 })) };
  })().catch((error: unknown) => {
    bundle = undefined;
    throw error;
  });
  return bundle;
}

/**
 * The OpenAPI 3.1 document generated from the route schemas that validate requests, and a
 * browsable reference of it. Registered last, so every other route has declared itself.
 */
const register: RegisterRoute = (app) => {
  app.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", {
    type: "http",
    scheme: "bearer",
    description: "An API key: `Authorization: Bearer fa_live_…` (create one with `pnpm keys:create`)",
  });
  app.doc31(OPENAPI_PATH, {
    openapi: "3.1.0",
    info: {
      title: "Funnel Analytics API",
      version: "1.0.0",
      description:
        "Event ingestion, the funnel catalog, and funnel reports (SPEC-FUN-004). Every route but tracking, " +
        "health and docs needs an API key; a key sees only its account's data, and another account's " +
        "resources answer 404.",
    },
    // Relative: the server that served this document, so examples name the host the reader used.
    servers: [{ url: "/", description: "This API" }],
    tags: [
      { name: "Tracking", description: "Event ingestion; answered 202 once events are durably queued" },
      { name: "Catalog", description: "Funnels, steps, pages and A/B tests pushed by the funnel builder" },
      { name: "Operations", description: "Probes and metrics" },
    ],
  });
  app.get(REFERENCE_BUNDLE_PATH, async (c) => {
    const file = await referenceBundle();
    c.header("content-type", "text/javascript; charset=utf-8");
    c.header("cache-control", "public, max-age=31536000, immutable");
    c.header("vary", "accept-encoding");
    c.header("x-content-type-options", "nosniff");
    if (/\bgzip\b/.test(c.req.header("accept-encoding") ?? "")) {
      c.header("content-encoding", "gzip");
      return c.body(file.gzip);
    }
    return c.body(file.body);
  });
  app.get(
    "/docs",
    Scalar({
      url: OPENAPI_PATH,
      pageTitle: "Funnel Analytics API",
      cdn: REFERENCE_BUNDLE_PATH,
      // Nothing from Scalar's servers: no web fonts, no telemetry, no hosted client, AI chat or MCP.
      withDefaultFonts: false,
      telemetry: false,
      hideClientButton: true,
      showDeveloperTools: "never",
      agent: { disabled: true },
      mcp: { disabled: true },
    }),
  );
};

export default register;

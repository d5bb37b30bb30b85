import script, { version } from "@funnel/tracker/script";
import { Hono } from "hono";
import type { EdgeEnv } from "../config";

/**
 * `GET /t.js`: the browser tracker (packages/tracker, minified at build). `/t.js?v=<version>` is
 * immutable for a year; plain `/t.js` is cached for a day and revalidated in the background for a
 * week, so a new tracker reaches every page within a day. The ETag is the content hash.
 */
export const trackerScript = new Hono<EdgeEnv>();

const etag = `"${version}"`;

trackerScript.get("/t.js", (c) => {
  const pinned = c.req.query("v") === version;
  const headers = {
    "content-type": "application/javascript; charset=utf-8",
    "cache-control": pinned
      ? "public, max-age=31536000, immutable"
      : "public, max-age=86400, stale-while-revalidate=604800",
    etag,
    "access-control-allow-origin": "*",
    "x-content-type-options": "nosniff",
  };
  if (c.req.header("if-none-match") === etag) return c.body(null, 304, headers);
  return c.body(script, 200, headers);
});

import { SELF } from "cloudflare:test";
import script, { version } from "@funnel/tracker/script";
import { describe, expect, it } from "vitest";

describe("GET /t.js", () => {
  it("serves the tracker with long cache headers and an ETag", async () => {
    const res = await SELF.fetch("http://edge.test/t.js");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("javascript");
    expect(res.headers.get("cache-control")).toBe("public, max-age=86400, stale-while-revalidate=604800");
    expect(res.headers.get("etag")).toBe(`"${version}"`);
    expect(await res.text()).toBe(script);
  });

  it("is immutable for a year at its versioned URL, and 304 when unchanged", async () => {
    const pinned = await SELF.fetch(`http://edge.test/t.js?v=${version}`);
    expect(pinned.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    const again = await SELF.fetch("http://edge.test/t.js", { headers: { "if-none-match": `"${version}"` } });
    expect(again.status).toBe(304);
  });
});

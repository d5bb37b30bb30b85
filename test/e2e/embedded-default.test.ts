/**
 * The quick start: with no DATABASE_URL and no REDIS_URL the API runs on embedded PGlite with an
 * in-process queue, seeds the demo account and prints its key last; the key works, events sent to
 * /track are accepted, and a restart finds the same data and prints the same key.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { demoFunnels, springSale } from "@funnel/fixtures";
import { afterAll, describe, expect, it } from "vitest";
import { startApi } from "../support/api-process";

const dataDir = mkdtempSync(join(tmpdir(), "funnel-embedded-"));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

const lastLine = (text: string) => text.trim().split("\n").pop() ?? "";

async function waitForKey(output: () => string, timeoutMs = 60_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const line = lastLine(output());
    if (line.startsWith("fa_live_")) return line;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no demo key printed:\n${output()}`);
}

describe("the embedded default", () => {
  it("starts with no servers, seeds the demo and prints a working key", async () => {
    const api = await startApi({ DATA_DIR: dataDir }, { readyTimeoutMs: 90_000 });
    try {
      const key = await waitForKey(api.output);
      const funnels = await fetch(`${api.url}/api/v1/funnels`, {
        headers: { authorization: `Bearer ${key}` },
      });
      expect(funnels.status).toBe(200);
      const body = (await funnels.json()) as { funnels: { id: string }[] };
      expect(body.funnels.map((f) => f.id).sort()).toEqual(demoFunnels.map((f) => f.id).sort());

      const ready = (await (await fetch(`${api.url}/readyz`)).json()) as {
        checks: { database: { kind: string } };
      };
      expect(ready.checks.database.kind).toBe("pglite");

      const track = await fetch(`${api.url}/api/v1/analytics/track`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          event_type: "page_view",
          funnel_id: springSale.id,
          page_id: springSale.pages[0]?.id,
          session_id: "s-embedded",
          visitor_id: "7b1e0000-0000-4000-8000-0000000000e1",
          url: "https://shop.example.com/spring",
        }),
      });
      expect(track.status).toBe(202);
      // Node's fetch sends `User-Agent: node`, a known bot's: the answer may list it in not_counted.
      expect(await track.json()).toMatchObject({ accepted: 1, rejected: [] });

      // The body is read from the socket with the limit enforced: over it is a 413, not a 500.
      const oversized = await fetch(`${api.url}/api/v1/analytics/track`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ events: [], padding: "x".repeat(300 * 1024) }),
      });
      expect(oversized.status).toBe(413);
      expect(((await oversized.json()) as { error: { code: string } }).error.code).toBe("PAYLOAD_TOO_LARGE");

      expect(await api.stop("SIGTERM")).toBe(0);

      // A second start reuses the data folder: no second seed, the same key.
      const again = await startApi({ DATA_DIR: dataDir }, { readyTimeoutMs: 90_000 });
      try {
        expect(await waitForKey(again.output)).toBe(key);
        expect(again.output()).toContain("0 demo events queued");
      } finally {
        await again.stop();
      }
    } finally {
      await api.stop();
    }
  }, 240_000);
});

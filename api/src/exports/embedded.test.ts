import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { USER_AGENTS } from "@funnel/fixtures";
import { afterAll, beforeAll, expect, it } from "vitest";
import { boot, type Runtime } from "../boot";
import { loadConfig } from "../config";
import { createAccountWithKey, seedFunnel } from "../testing";
import { csvSections, outboxMessages } from "../testing/exports";
import { outboxDir } from "./mailer";

/**
 * The embedded default (no DATABASE_URL, no REDIS_URL): PGlite, the in-process export queue and
 * worker that boot starts, the outbox folder for mail. An export runs to completion there too.
 */

let dataDir: string;
let runtime: Runtime;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "funnel-embedded-export-"));
  runtime = await boot(
    loadConfig({ NODE_ENV: "test", LOG_LEVEL: "silent", DATA_DIR: dataDir, SEED_DEMO: "false" }),
  );
});
afterAll(async () => {
  await runtime?.close();
  await rm(dataDir, { recursive: true, force: true });
});

it("completes an export on PGlite with the in-process queue and mails the link to the outbox", {
  timeout: 120_000,
}, async () => {
  expect(runtime.deps.database.kind).toBe("pglite");
  const { app, deps } = runtime;
  const owner = await createAccountWithKey(deps.database, { notificationEmail: "embedded@example.com" });
  const { funnelId, body } = await seedFunnel(app, owner.headers);
  const track = await app.request("/api/v1/analytics/import", {
    method: "POST",
    headers: { ...owner.headers, "content-type": "application/json" },
    body: JSON.stringify({
      events: [0, 1].flatMap((i) => {
        const visit = {
          funnel_id: funnelId,
          session_id: randomUUID(),
          visitor_id: randomUUID(),
          user_agent: USER_AGENTS.chromeWindows,
        };
        const timestamp = `2026-01-1${i}T10:00:00Z`;
        return [
          {
            ...visit,
            event_type: "page_view",
            page_id: body.pages?.[0]?.id,
            url: "https://shop.example.com/",
            timestamp,
          },
          { ...visit, event_type: "step_entry", funnel_step_id: body.steps[0]?.id, timestamp },
        ];
      }),
    }),
  });
  expect(track.status).toBe(202);
  const period = new URLSearchParams({ date_from: "2026-01-01", date_to: "2026-01-31" });
  const report = async () =>
    (await (
      await app.request(`/api/v1/analytics/funnels/${funnelId}/overview?${period}`, {
        headers: owner.headers,
      })
    ).json()) as { steps: { step_id: string; visitors: number }[] };
  // Ingestion is asynchronous here too: wait until the report sees both visitors.
  const deadline = Date.now() + 30_000;
  while ((await report()).steps[0]?.visitors !== 2 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }

  const posted = await app.request("/api/v1/analytics/export", {
    method: "POST",
    headers: { ...owner.headers, "content-type": "application/json" },
    body: JSON.stringify({
      funnel_id: funnelId,
      report_type: "overview",
      format: "csv",
      ...Object.fromEntries(period),
    }),
  });
  expect(posted.status).toBe(202);
  const { job_id } = (await posted.json()) as { job_id: string };
  let job: { status: string; download_url?: string } = { status: "queued" };
  while (job.status !== "completed" && job.status !== "failed" && Date.now() < deadline + 30_000) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    job = (await (
      await app.request(`/api/v1/analytics/export/${job_id}`, { headers: owner.headers })
    ).json()) as typeof job;
  }
  expect(job.status).toBe("completed");

  const file = await app.request(job.download_url ?? "");
  expect(file.status).toBe(200);
  const steps = csvSections(await file.text()).tables.find((x) => x.title === "Steps");
  const expected = (await report()).steps;
  const id = steps?.header.indexOf("Step ID") ?? -1;
  const visitors = steps?.header.indexOf("Visitors") ?? -1;
  expect(steps?.rows.map((r) => [r[id], Number(r[visitors])])).toEqual(
    expected.map((s) => [s.step_id, s.visitors]),
  );
  expect(expected[0]?.visitors).toBe(2);

  // The export is "completed" once its file is stored; the mail follows it (runner.ts), so wait for it.
  let mail: string | undefined;
  while (mail === undefined && Date.now() < deadline + 30_000) {
    mail = (await outboxMessages(outboxDir(deps.config))).find((m) => m.includes(job_id));
    if (mail === undefined) await new Promise((resolve) => setTimeout(resolve, 50));
  }
  expect(mail).toContain("To: embedded@example.com");
  expect(mail).toContain(`http://localhost:${deps.config.PORT}${job.download_url}`);
});

import { createDatabase, queryRows } from "@funnel/db/client";
import { sql } from "@funnel/db/orm";
import { storageKind } from "@funnel/db/partitions";
import { createTestDatabase } from "@funnel/db/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startExportWorker } from "../exports/worker";
import type { ExportWorker } from "../ports";
import { type AccountWithKey, createTestApp, type EventPipeline, startEventPipeline } from "../testing";
import {
  type CapturedStatement,
  checkAccountKeyedReads,
  conjuncts,
  isAccountKey,
} from "./account-keyed-plans";
import { type ReadAnswer, readEverything } from "./analytics-reads";
import { type AccountData, seedAccountData } from "./isolation-fixtures";

/**
 * Every statement that reads events or rollups names the account (issue: a funnel id alone once
 * let one account read another's history). The database handle reports every statement it sends;
 * while an account with data reads everything the API offers about its funnel (every report, real
 * time, A/B results, the journey, an export of each report type), they are collected, and each
 * scan of an account-owned table in their plans must be held to one account_id.
 */

const testDatabase = await createTestDatabase();
const statements: CapturedStatement[] = [];
let capturing = false;
const database = await createDatabase({
  url: testDatabase.url,
  poolMax: 4,
  statementTimeoutMs: 30_000,
  onQuery: (query, params) => {
    if (capturing) statements.push({ query, params });
  },
});
database.kind = await storageKind(database.db);
const t = await createTestApp({ database, config: { REPORT_CACHE_SECONDS: 0 } });

let pipeline: EventPipeline;
let exportWorker: ExportWorker;
let data: AccountData;
let answers: ReadAnswer[];

async function waitForExport(account: AccountWithKey, jobId: string): Promise<string> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const response = await t.app.request(`/api/v1/analytics/export/${jobId}`, { headers: account.headers });
    const status = (await response.json()) as { status: string; download_url?: string };
    if (status.status === "completed" && status.download_url) return status.download_url;
    if (Date.now() > deadline) throw new Error(`export still ${status.status}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

beforeAll(async () => {
  exportWorker = await startExportWorker(t.deps, { cleanup: false });
  pipeline = startEventPipeline(t);
  data = await seedAccountData(t, pipeline, "A", waitForExport);
  capturing = true;
  try {
    answers = await readEverything(t, data.account.headers, {
      funnelId: data.funnelId,
      stepIds: data.funnel.steps.map((s) => s.id),
      visitorId: data.visitorId,
      testId: data.testId,
    });
  } finally {
    capturing = false;
  }
}, 120_000);

afterAll(async () => {
  await pipeline?.close();
  await exportWorker?.close();
  await t.close();
  await database.close();
  await testDatabase.drop();
});

describe("reads of events and rollups", () => {
  it("were all answered, with the account's own data", () => {
    const failed = answers.filter((a) => a.status !== 200).map((a) => `${a.label}: ${a.status} ${a.body}`);
    expect(failed).toEqual([]);
    // The reads saw the account's data: its visitor and session are in the answers.
    const all = answers.map((a) => a.body).join("\n");
    for (const id of [data.visitorId, data.sessionId]) expect(all).toContain(id);
  });

  it("every scan of an account-owned table is held to one account_id", async () => {
    const check = await checkAccountKeyedReads(database.db, statements);
    const unkeyed = check.unkeyed.map(
      (u) =>
        `${u.table} (${u.node}; ${u.conditions.join(" / ") || "no condition"}) in: ${u.query.replace(/\s+/g, " ").slice(0, 400)}`,
    );
    expect(unkeyed, "scans that do not name the account").toEqual([]);
    // The run read what the reports are made of: a check over no statements proves nothing.
    expect(check.statements).toBeGreaterThan(50);
    expect([...check.tablesRead].sort()).toEqual(
      expect.arrayContaining([
        "agg_active_days",
        "agg_conversions",
        "agg_conversions_daily",
        "agg_converters",
        "agg_converting_sessions",
        "agg_day_links",
        "agg_event_counts",
        "agg_funnel_visitors",
        "agg_products_daily",
        "agg_session_buckets",
        "agg_step_buckets",
        "agg_step_events",
        "agg_step_visitors",
        "agg_step_visits",
        "analytics_events",
      ]),
    );
  });
});

describe("the statements the check reads", () => {
  it("are reported by the embedded database too", async () => {
    const seen: CapturedStatement[] = [];
    const embedded = await createDatabase({
      dataDir: "memory://",
      onQuery: (query, params) => seen.push({ query, params }),
    });
    try {
      await queryRows(embedded.db, sql`select ${"funnel"}::text as kind`);
      expect(seen).toEqual([{ query: "select $1::text as kind", params: ["funnel"] }]);
    } finally {
      await embedded.close();
    }
    // Starting PGlite takes seconds, and more on a busy machine.
  }, 120_000);
});

describe("the plan conditions the check reads", () => {
  it("take account_id only as an ANDed term equal to a value", () => {
    const keyed = "((account_id = 'a4b0c1f2-0000-4000-8000-000000000001'::uuid) AND (funnel_id = $2))";
    expect(conjuncts(keyed).some(isAccountKey)).toBe(true);
    expect(
      conjuncts("((c.account_id = $1) AND ((kind)::text = 'conversion'::text))").some(isAccountKey),
    ).toBe(true);
    for (const unkeyed of [
      "(funnel_id = $1)",
      "((account_id = $1) OR (account_id IS NULL))",
      "(account_id = t.account_id)",
      "((funnel_id = $1) AND (account_id <> $2))",
      "(note = 'account_id = $1')",
    ]) {
      expect(conjuncts(unkeyed).some(isAccountKey), unkeyed).toBe(false);
    }
  });
});

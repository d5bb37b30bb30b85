import { randomUUID } from "node:crypto";
import { queryRows } from "@funnel/db/client";
import { sql } from "@funnel/db/orm";
import { deriveAll } from "@funnel/db/queries/derive";
import { writeBatch } from "@funnel/db/queries/events";
import type { AcceptedEvent } from "@funnel/events";
import { storedEvent, USER_AGENTS } from "@funnel/fixtures";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type AccountWithKey,
  createAccountWithKey,
  createTestApp,
  seedFunnel,
  type TestApp,
} from "../../../testing";

/**
 * Every report says how fresh it is: `data_through`, the time before which every stored event of
 * the account is counted. Events stored but not yet derived are after it, and not counted; once
 * derived, they are counted and the time moves past them.
 */

let t: TestApp;
let a: AccountWithKey;
let b: AccountWithKey;

beforeAll(async () => {
  t = await createTestApp({ config: { REPORT_CACHE_SECONDS: 0 } });
  a = await createAccountWithKey(t.deps.database);
  b = await createAccountWithKey(t.deps.database);
});
afterAll(async () => {
  await t?.close();
});

const DAY = "2026-03-10";

function pageViews(funnelId: string, n: number): AcceptedEvent[] {
  const at = `${DAY}T12:00:00.000Z`;
  return Array.from({ length: n }, () =>
    storedEvent({
      event_type: "page_view",
      funnel_id: funnelId,
      session_id: `s-${randomUUID()}`,
      visitor_id: randomUUID(),
      user_agent: USER_AGENTS.chromeWindows,
      occurred_at: at,
      received_at: at,
      page_id: randomUUID(),
    }),
  );
}

async function store(account: AccountWithKey, events: AcceptedEvent[]): Promise<Date> {
  await writeBatch(
    t.deps.database.db,
    { source: "import", accountId: account.accountId, accepted: events, rejected: [] },
    { batchId: randomUUID() },
  );
  const [row] = await queryRows<{ at: Date | string }>(
    t.deps.database.db,
    sql`select max(stored_at) as at from rollup_backlog where account_id = ${account.accountId}::uuid`,
  );
  return new Date(row?.at ?? 0);
}

async function overview(account: AccountWithKey, funnelId: string) {
  const response = await t.app.request(
    `/api/v1/analytics/funnels/${funnelId}/overview?date_from=${DAY}&date_to=${DAY}`,
    { headers: account.headers },
  );
  expect(response.status).toBe(200);
  return (await response.json()) as { visitors: { unique: number }; data_through: string | null };
}

describe("data_through", () => {
  it("is null before the account's first event, then stops before what is stored but not derived", async () => {
    const { funnelId } = await seedFunnel(t.app, a.headers);
    const other = await seedFunnel(t.app, b.headers);
    expect((await overview(a, funnelId)).data_through).toBeNull();

    const first = await store(a, pageViews(funnelId, 3));
    // Another account's waiting events hold back only its own reports.
    await store(b, pageViews(other.funnelId, 2));
    const waiting = await overview(a, funnelId);
    expect(waiting.visitors.unique).toBe(0);
    expect(Date.parse(waiting.data_through ?? "")).toBe(first.getTime());

    await deriveAll(t.deps.database.db);
    const derived = await overview(a, funnelId);
    expect(derived.visitors.unique).toBe(3);
    expect(Date.parse(derived.data_through ?? "")).toBe(first.getTime());

    // A second write: the report stops before it until it is derived, then moves past it.
    const second = await store(a, pageViews(funnelId, 4));
    expect(second.getTime()).toBeGreaterThan(first.getTime());
    const behind = await overview(a, funnelId);
    expect(behind.visitors.unique).toBe(3);
    expect(Date.parse(behind.data_through ?? "")).toBe(second.getTime());
    await deriveAll(t.deps.database.db);
    const caughtUp = await overview(a, funnelId);
    expect(caughtUp.visitors.unique).toBe(7);
    expect(Date.parse(caughtUp.data_through ?? "")).toBe(second.getTime());
    expect(Date.parse((await overview(b, other.funnelId)).data_through ?? "")).toBeGreaterThan(0);
  });
});

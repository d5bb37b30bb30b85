import { randomBytes, randomUUID } from "node:crypto";
import { queryRows } from "@funnel/db/client";
import { sql } from "@funnel/db/orm";
import type { TrackEvent } from "@funnel/events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startExportWorker } from "../exports/worker";
import { CHROME_UA } from "../ingest/testing";
import type { ExportWorker } from "../ports";
import {
  type AbTestBody,
  type AccountWithKey,
  abTestBody,
  createAccountWithKey,
  createTestApp,
  type EventPipeline,
  type FunnelBody,
  funnelBody,
  putAbTestRequest,
  putFunnelRequest,
  startEventPipeline,
} from "../testing";
import { type ReadAnswer, readEverything, readPeriods } from "./analytics-reads";

/**
 * Rows of two accounts under one funnel id: account A's events of funnel X are stored, then
 * account B is made X's owner in the database itself (the catalog no longer lets an id change
 * hands; this is the mistake elsewhere that reads must survive), and B's own events of X come in.
 * Every read B can make about X (each report over several periods, real time, A/B results, the
 * journey, an export of each type) must answer exactly what a third account C gets with B's
 * events alone, under ids of its own: none of A's history, counted or listed.
 */

const t = await createTestApp({ config: { REPORT_CACHE_SECONDS: 0 } });
let pipeline: EventPipeline;
let exportWorker: ExportWorker;

const MINUTE = 60_000;
const DAY = 86_400_000;
/** The writer remembers a funnel's owner this long (db/src/queries/events.ts, catalogTtlMs). */
const OWNER_CACHE_MS = 5_000;

interface Owner {
  account: AccountWithKey;
  funnelId: string;
  funnel: FunnelBody;
  testId: string;
  abTest: AbTestBody;
}

async function ownFunnel(account: AccountWithKey, funnel: FunnelBody): Promise<Owner> {
  const funnelId = randomUUID();
  const put = await putFunnelRequest(t.app, account.headers, funnelId, funnel);
  if (put.status !== 200) throw new Error(`PUT funnel: ${put.status} ${await put.text()}`);
  const testId = randomUUID();
  const abTest = abTestBody(funnelId, funnel);
  const test = await putAbTestRequest(t.app, account.headers, testId, abTest);
  if (test.status !== 200) throw new Error(`PUT A/B test: ${test.status} ${await test.text()}`);
  return { account, funnelId, funnel, testId, abTest };
}

interface Visitor {
  visitorId: string;
  sessionId: string;
  /** Marks what is this visitor's: source, order, product, URL. */
  token: string;
  /** Its first event. */
  at: number;
  valueCents: number;
}

function visitorOf(label: string, at: number, valueCents: number): Visitor {
  const token = `${label}${randomBytes(5).toString("hex")}`;
  return { visitorId: randomUUID(), sessionId: `session-${token}`, token, at, valueCents };
}

/**
 * The visitor's events in `owner`'s funnel: a page view of the test's control page, two steps,
 * an order with a product. Event ids are given, so two accounts can be sent the very same events.
 */
function eventsOf(owner: Owner, v: Visitor, eventIds: string[]): TrackEvent[] {
  const [first, second] = owner.funnel.steps;
  const control = owner.abTest.variants[0];
  if (!first || !second || !control) throw new Error("the funnel needs two steps and a test");
  const at = (seconds: number) => new Date(v.at + seconds * 1000).toISOString();
  const common = {
    funnel_id: owner.funnelId,
    visitor_id: v.visitorId,
    session_id: v.sessionId,
    utm_source: `source-${v.token}`,
    user_agent: CHROME_UA,
  };
  const id = (i: number) => eventIds[i] ?? randomUUID();
  return [
    {
      ...common,
      event_id: id(0),
      event_type: "page_view",
      page_id: control.page_id,
      variant_id: control.id,
      url: `https://shop.example.com/${v.token}`,
      timestamp: at(0),
    },
    { ...common, event_id: id(1), event_type: "step_entry", funnel_step_id: first.id, timestamp: at(1) },
    {
      ...common,
      event_id: id(2),
      event_type: "step_exit",
      funnel_step_id: first.id,
      exit_outcome: "forward",
      next_step_id: second.id,
      timestamp: at(10),
    },
    {
      ...common,
      event_id: id(3),
      event_type: "step_entry",
      funnel_step_id: second.id,
      previous_step_id: first.id,
      timestamp: at(11),
    },
    {
      ...common,
      event_id: id(4),
      event_type: "conversion",
      conversion_type: "purchase",
      value_cents: v.valueCents,
      order_id: `order-${v.token}`,
      page_id: control.page_id,
      metadata: {
        products: [
          {
            product_id: `product-${v.token}`,
            product_name: `Product ${v.token}`,
            quantity: 1,
            price_cents: v.valueCents,
          },
        ],
      },
      timestamp: at(20),
    },
  ];
}

let a: Owner;
let b: Owner;
let c: Owner;
let aVisitors: Visitor[];
let bVisitors: Visitor[];
let answersOfB: ReadAnswer[];
let answersOfC: ReadAnswer[];

beforeAll(async () => {
  exportWorker = await startExportWorker(t.deps, { cleanup: false });
  pipeline = startEventPipeline(t);
  const now = Date.now();
  const [accountA, accountB, accountC] = [
    await createAccountWithKey(t.deps.database),
    await createAccountWithKey(t.deps.database),
    await createAccountWithKey(t.deps.database),
  ];
  a = await ownFunnel(accountA, funnelBody());
  // A's history: three buyers three days ago (other days than B's, so no rollup row is shared).
  aVisitors = [0, 1, 2].map((i) => visitorOf("A", now - 3 * DAY + i * MINUTE, 10_000 + i));
  await pipeline.importEvents(
    accountA.headers,
    aVisitors.flatMap((v) => eventsOf(a, v, [])),
  );
  const aWrittenAt = Date.now();

  // X changes hands behind the catalog's back, its A/B test with it.
  await queryRows(
    t.deps.database.db,
    sql`update funnels set account_id = ${accountB.accountId}::uuid where id = ${a.funnelId}::uuid`,
  );
  await queryRows(
    t.deps.database.db,
    sql`update ab_tests set account_id = ${accountB.accountId}::uuid where funnel_id = ${a.funnelId}::uuid`,
  );
  b = { ...a, account: accountB };
  // C: the same funnel and test under ids of its own, names included.
  c = await ownFunnel(accountC, {
    ...a.funnel,
    steps: a.funnel.steps.map((s) => ({ ...s, id: randomUUID() })),
    pages: (a.funnel.pages ?? []).map((p) => ({ ...p, id: randomUUID() })),
  });

  // B's own traffic, a few minutes ago; C is sent the very same events in its funnel.
  bVisitors = [visitorOf("B", now - 4 * MINUTE, 2_500), visitorOf("B", now - 3 * MINUTE, 700)];
  const ids = bVisitors.map(() => Array.from({ length: 5 }, () => randomUUID()));
  // Until the writer forgets that X was A's, B's events would be stored as A's.
  await new Promise((resolve) =>
    setTimeout(resolve, Math.max(0, aWrittenAt + OWNER_CACHE_MS + 100 - Date.now())),
  );
  await pipeline.importEvents(
    accountB.headers,
    bVisitors.flatMap((v, i) => eventsOf(b, v, ids[i] ?? [])),
  );
  await pipeline.importEvents(
    accountC.headers,
    bVisitors.flatMap((v, i) => eventsOf(c, v, ids[i] ?? [])),
  );
  const [stored] = await queryRows<{ n: number }>(
    t.deps.database.db,
    sql`select count(*)::int as n from analytics_events where account_id = ${accountB.accountId}::uuid and funnel_id = ${a.funnelId}::uuid`,
  );
  if (stored?.n !== 10) throw new Error(`B's events of X: ${stored?.n} stored, 10 sent`);

  const periods = readPeriods(new Date(now));
  const visitor = bVisitors[0]?.visitorId ?? "";
  answersOfB = await readEverything(
    t,
    accountB.headers,
    { funnelId: b.funnelId, stepIds: b.funnel.steps.map((s) => s.id), visitorId: visitor, testId: b.testId },
    periods,
  );
  answersOfC = await readEverything(
    t,
    accountC.headers,
    { funnelId: c.funnelId, stepIds: c.funnel.steps.map((s) => s.id), visitorId: visitor, testId: c.testId },
    periods,
  );
}, 180_000);

afterAll(async () => {
  await pipeline?.close();
  await exportWorker?.close();
  await t.close();
});

/** C's ids in place of X's, so that C's answers read as B's would without A's rows. */
function asB(text: string): string {
  const pairs: [string, string][] = [
    [c.funnelId, b.funnelId],
    [c.testId, b.testId],
    ...c.funnel.steps.map((s, i): [string, string] => [s.id, b.funnel.steps[i]?.id ?? ""]),
    ...(c.funnel.pages ?? []).map((p, i): [string, string] => [p.id, b.funnel.pages?.[i]?.id ?? ""]),
    ...c.abTest.variants.map((v, i): [string, string] => [v.id, b.abTest.variants[i]?.id ?? ""]),
  ];
  return pairs.reduce((out, [from, to]) => out.split(from).join(to), text);
}

/** Without what differs between two requests made a moment apart. */
function comparable(text: string): string {
  return (
    text
      .replace(/"request_id":"[^"]*"/g, '"request_id":""')
      // When each account's events were stored: how fresh its reports are, not what they count.
      .replace(/"data_through":("[^"]*"|null)/g, '"data_through":""')
      .replace(/^(\{"funnel_id":"[^"]*","timestamp":)"[^"]*"/, '$1""')
      .replace(/^Generated,.*$/m, "Generated,")
  );
}

describe("a funnel id with another account's rows under it", () => {
  it("answers every read as if the other account's rows did not exist", () => {
    expect(answersOfB.map((r) => r.label.split("?")[0])).toEqual(
      answersOfC.map((r) => asB(r.label).split("?")[0]),
    );
    const failed = answersOfB.filter((r) => r.status !== 200).map((r) => `${r.label}: ${r.status}`);
    expect(failed).toEqual([]);
    const expected = (i: number) => comparable(asB(answersOfC[i]?.body ?? ""));
    const differing = answersOfB.filter((r, i) => comparable(r.body) !== expected(i));
    expect(
      differing.map((r) => r.label.split("?")[0]),
      "reads of B that do not answer what B's events alone give",
    ).toEqual([]);
    for (const [i, ofB] of answersOfB.entries()) expect(comparable(ofB.body), ofB.label).toEqual(expected(i));
  });

  it("names none of the other account's visitors, sessions, sources, orders or products", () => {
    const markers = aVisitors.flatMap((v) => [v.visitorId, v.sessionId, v.token]);
    for (const answer of answersOfB) {
      const leaked = markers.filter((m) => answer.body.toLowerCase().includes(m.toLowerCase()));
      expect(leaked, answer.label).toEqual([]);
    }
  });

  it("reads B's own data: its visitors, sources and orders are there", () => {
    const all = answersOfB.map((r) => r.body).join("\n");
    for (const v of bVisitors) {
      expect(all).toContain(v.sessionId);
      expect(all).toContain(`source-${v.token}`);
    }
  });
});

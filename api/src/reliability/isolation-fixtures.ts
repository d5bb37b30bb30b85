import { randomBytes, randomUUID } from "node:crypto";
import type { TrackEvent } from "@funnel/events";
import { CHROME_UA } from "../ingest/testing";
import { KEY_PREFIX } from "../services/keys/key-hash";
import {
  type AbTestBody,
  type AccountWithKey,
  abTestBody,
  createAccountWithKey,
  createRevokedKey,
  type EventPipeline,
  type FunnelBody,
  funnelBody,
  putAbTestRequest,
  putFunnelRequest,
  type TestApp,
} from "../testing";

/**
 * One account of the isolation matrix with one of everything a route can be about: two funnels,
 * an A/B test, a visitor's events (imported, so stored), a finished export. Every id and name is
 * new and recorded in `secrets`: none of them may appear in an answer to another account.
 */
export interface AccountData {
  label: string;
  account: AccountWithKey;
  revokedKey: string;
  funnelId: string;
  funnel: FunnelBody;
  secondFunnelId: string;
  testId: string;
  abTest: AbTestBody;
  visitorId: string;
  sessionId: string;
  orderId: string;
  exportId: string;
  /** The export's signed download link (path and query). */
  downloadUrl: string;
  /** Everything of this account's that must stay its own: ids, names, markers. */
  secrets: string[];
}

export const unknownKey = () => `Bearer ${KEY_PREFIX}${randomBytes(32).toString("base64url")}`;

/** The period every report request of the matrix uses: the last 30 days, today included. */
export function matrixPeriod(now = new Date()): { date_from: string; date_to: string } {
  const day = (d: Date) => d.toISOString().slice(0, 10);
  return { date_from: day(new Date(now.getTime() - 30 * 86_400_000)), date_to: day(now) };
}

export async function seedAccountData(
  t: TestApp,
  pipeline: EventPipeline,
  label: string,
  waitForExport: (account: AccountWithKey, jobId: string) => Promise<string>,
): Promise<AccountData> {
  const token = `${label}${randomBytes(6).toString("hex")}`;
  const account = await createAccountWithKey(t.deps.database, { accountName: `Account ${token}` });
  const funnelId = randomUUID();
  const base = funnelBody();
  const funnel: FunnelBody = {
    name: `Funnel ${token}`,
    steps: base.steps.map((s) => ({ ...s, name: `${s.name} ${token}` })),
    pages: (base.pages ?? []).map((p) => ({ ...p, name: `${p.name} ${token}`, url: `${p.url}/${token}` })),
  };
  await expectOk(putFunnelRequest(t.app, account.headers, funnelId, funnel), "PUT funnel");
  const secondFunnelId = randomUUID();
  const second = funnelBody({ name: `Second funnel ${token}` });
  await expectOk(putFunnelRequest(t.app, account.headers, secondFunnelId, second), "PUT second funnel");
  const testId = randomUUID();
  const abTest = abTestBody(funnelId, funnel, { test_name: `Test ${token}` });
  abTest.variants = abTest.variants.map((v) => ({ ...v, variant_name: `${v.variant_name} ${token}` }));
  await expectOk(putAbTestRequest(t.app, account.headers, testId, abTest), "PUT A/B test");

  const visitorId = randomUUID();
  const sessionId = `session-${token}`;
  const orderId = `order-${token}`;
  await pipeline.importEvents(
    account.headers,
    visitorEvents(funnelId, funnel, abTest, { visitorId, sessionId, orderId, token }),
  );

  const period = matrixPeriod();
  const posted = await t.app.request("/api/v1/analytics/export", {
    method: "POST",
    headers: { ...account.headers, "content-type": "application/json" },
    body: JSON.stringify({ funnel_id: funnelId, report_type: "conversions", format: "csv", ...period }),
  });
  if (posted.status !== 202) throw new Error(`export: ${posted.status} ${await posted.text()}`);
  const exportId = ((await posted.json()) as { job_id: string }).job_id;
  const downloadUrl = await waitForExport(account, exportId);

  const secrets = [
    token,
    funnelId,
    secondFunnelId,
    testId,
    visitorId,
    sessionId,
    orderId,
    exportId,
    ...funnel.steps.map((s) => s.id),
    ...(funnel.pages ?? []).map((p) => p.id),
    ...(second.pages ?? []).map((p) => p.id),
    ...second.steps.map((s) => s.id),
    ...abTest.variants.map((v) => v.id),
  ];
  return {
    label,
    account,
    revokedKey: await createRevokedKey(t.deps.database, account.accountId),
    funnelId,
    funnel,
    secondFunnelId,
    testId,
    abTest,
    visitorId,
    sessionId,
    orderId,
    exportId,
    downloadUrl,
    secrets,
  };
}

/** A visitor who sees the control page, walks two steps, buys and is refunded, a minute ago. */
function visitorEvents(
  funnelId: string,
  funnel: FunnelBody,
  abTest: AbTestBody,
  ids: { visitorId: string; sessionId: string; orderId: string; token: string },
): TrackEvent[] {
  const [first, second] = funnel.steps;
  const control = abTest.variants[0];
  if (!first || !second || !control) throw new Error("visitorEvents: the funnel needs two steps and a test");
  const at = (seconds: number) => new Date(Date.now() - 120_000 + seconds * 1000).toISOString();
  const common = {
    funnel_id: funnelId,
    visitor_id: ids.visitorId,
    session_id: ids.sessionId,
    utm_source: `source-${ids.token}`,
    user_agent: CHROME_UA,
    metadata: { marker: `metadata-${ids.token}` },
  };
  return [
    {
      ...common,
      event_id: randomUUID(),
      event_type: "page_view",
      page_id: control.page_id,
      variant_id: control.id,
      url: `https://shop.example.com/${ids.token}`,
      timestamp: at(0),
    },
    {
      ...common,
      event_id: randomUUID(),
      event_type: "step_entry",
      funnel_step_id: first.id,
      timestamp: at(1),
    },
    {
      ...common,
      event_id: randomUUID(),
      event_type: "step_exit",
      funnel_step_id: first.id,
      exit_outcome: "forward",
      next_step_id: second.id,
      timestamp: at(10),
    },
    {
      ...common,
      event_id: randomUUID(),
      event_type: "step_entry",
      funnel_step_id: second.id,
      previous_step_id: first.id,
      timestamp: at(11),
    },
    {
      ...common,
      event_id: randomUUID(),
      event_type: "conversion",
      conversion_type: "purchase",
      value_cents: 4_999,
      order_id: ids.orderId,
      page_id: control.page_id,
      timestamp: at(20),
    },
    {
      ...common,
      event_id: randomUUID(),
      event_type: "refund",
      order_id: ids.orderId,
      value_cents: 1_000,
      timestamp: at(30),
    },
  ];
}

async function expectOk(response: Promise<Response>, what: string): Promise<void> {
  const r = await response;
  if (r.status >= 300) throw new Error(`${what}: ${r.status} ${await r.text()}`);
}

/**
 * The secrets of `data` that occur in `text` (case-insensitively), but for those the request
 * itself carried (`sent`): an id echoed back to the caller who sent it tells the caller nothing.
 */
export function leakedSecrets(data: AccountData, text: string, sent = ""): string[] {
  const lower = text.toLowerCase();
  const asked = sent.toLowerCase();
  return data.secrets.filter((s) => lower.includes(s.toLowerCase()) && !asked.includes(s.toLowerCase()));
}

/** One attempt by an intruder to use one of another account's catalog ids as its own. */
export interface IdClaim {
  kind: "funnel" | "step" | "page" | "A/B test" | "variant";
  method: "PUT";
  path: string;
  body: unknown;
  /** The answer the claim gets, with the field an id_taken refusal names. */
  status: 400 | 404;
  field?: string;
}

/**
 * The intruder's PUTs that each take one of `owner`'s ids (its funnel, first step, first page, A/B
 * test, control variant), with new ids for everything else. Built once, so the same requests can
 * be sent while the ids are live and after their owner deleted them.
 */
export function idClaims(intruder: AccountData, owner: AccountData): IdClaim[] {
  const [step] = owner.funnel.steps;
  const [page] = owner.funnel.pages ?? [];
  const [variant] = owner.abTest.variants;
  if (!step || !page || !variant) throw new Error("idClaims: the owner needs a step, a page and a variant");
  const withStep = funnelBody();
  withStep.steps = withStep.steps.map((s, i) => (i === 0 ? { ...s, id: step.id } : s));
  const withPage = funnelBody();
  withPage.pages = (withPage.pages ?? []).map((p, i) => (i === 0 ? { ...p, id: page.id } : p));
  const withVariant = abTestBody(intruder.funnelId, intruder.funnel);
  withVariant.variants = withVariant.variants.map((v, i) => (i === 0 ? { ...v, id: variant.id } : v));
  return [
    {
      kind: "funnel",
      method: "PUT",
      path: `/api/v1/funnels/${owner.funnelId}`,
      body: funnelBody(),
      status: 404,
    },
    {
      kind: "step",
      method: "PUT",
      path: `/api/v1/funnels/${randomUUID()}`,
      body: withStep,
      status: 400,
      field: "steps.0.id",
    },
    {
      kind: "page",
      method: "PUT",
      path: `/api/v1/funnels/${randomUUID()}`,
      body: withPage,
      status: 400,
      field: "pages.0.id",
    },
    {
      kind: "A/B test",
      method: "PUT",
      path: `/api/v1/ab-tests/${owner.testId}`,
      body: abTestBody(intruder.funnelId, intruder.funnel),
      status: 404,
    },
    {
      kind: "variant",
      method: "PUT",
      path: `/api/v1/ab-tests/${randomUUID()}`,
      body: withVariant,
      status: 400,
      field: "variants.0.id",
    },
  ];
}

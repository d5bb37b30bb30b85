import { randomUUID } from "node:crypto";
import type { AbTestInput } from "../services/catalog/put-ab-test";
import type { FunnelInput } from "../services/catalog/put-funnel";
import type { TestApp } from "./deps";

/**
 * Factories for catalog requests: a three-step funnel with two landing pages, and an A/B test of
 * those pages. Every call makes new ids, so tests never depend on each other's rows.
 */

export type FunnelBody = Omit<FunnelInput, "id">;
export type AbTestBody = Omit<AbTestInput, "id">;

export function funnelBody(overrides: Partial<FunnelBody> = {}): FunnelBody {
  return {
    name: "Spring Sale",
    steps: [
      { id: randomUUID(), name: "Landing", step_type: "optin", position: 1 },
      { id: randomUUID(), name: "Sales page", step_type: "sales", position: 2 },
      { id: randomUUID(), name: "Checkout", step_type: "checkout", position: 3 },
    ],
    pages: [
      { id: randomUUID(), name: "Landing A", url: "https://shop.example.com/spring" },
      { id: randomUUID(), name: "Landing B", url: "https://shop.example.com/spring-b" },
    ],
    ...overrides,
  };
}

/** A 50/50 test of the funnel's first two pages, the first the control. */
export function abTestBody(
  funnelId: string,
  funnel: FunnelBody,
  overrides: Partial<AbTestBody> = {},
): AbTestBody {
  const [control, challenger] = funnel.pages ?? [];
  if (!control || !challenger) throw new Error("abTestBody: the funnel needs two pages");
  return {
    funnel_id: funnelId,
    test_name: "Landing headline",
    status: "running",
    started_at: "2025-03-01T00:00:00.000Z",
    variants: [
      { id: randomUUID(), variant_name: "Control", is_control: true, page_id: control.id, traffic_split: 50 },
      {
        id: randomUUID(),
        variant_name: "Bold headline",
        is_control: false,
        page_id: challenger.id,
        traffic_split: 50,
      },
    ],
    ...overrides,
  };
}

/** The factory's funnel as POST /api/v1/funnels takes it: without any id. */
export function newFunnelBody(overrides: Partial<FunnelBody> = {}) {
  const { steps, pages, ...rest } = funnelBody(overrides);
  return {
    ...rest,
    steps: steps.map(({ id: _, ...step }) => step),
    pages: (pages ?? []).map(({ id: _, ...page }) => page),
  };
}

/** The factory's A/B test as POST /api/v1/ab-tests takes it: without variant ids. */
export function newAbTestBody(funnelId: string, funnel: FunnelBody, overrides: Partial<AbTestBody> = {}) {
  const { variants, ...rest } = abTestBody(funnelId, funnel, overrides);
  return { ...rest, variants: variants.map(({ id: _, ...variant }) => variant) };
}

function json(method: string, headers: Record<string, string>, body: unknown): RequestInit {
  return { method, headers: { ...headers, "content-type": "application/json" }, body: JSON.stringify(body) };
}

export function putFunnelRequest(
  app: TestApp["app"],
  headers: Record<string, string>,
  funnelId: string,
  body: unknown,
): Promise<Response> {
  return Promise.resolve(app.request(`/api/v1/funnels/${funnelId}`, json("PUT", headers, body)));
}

export function putAbTestRequest(
  app: TestApp["app"],
  headers: Record<string, string>,
  testId: string,
  body: unknown,
): Promise<Response> {
  return Promise.resolve(app.request(`/api/v1/ab-tests/${testId}`, json("PUT", headers, body)));
}

/** Stores a funnel for the account (failing the test if it cannot) and returns its id and body. */
export async function seedFunnel(
  app: TestApp["app"],
  headers: Record<string, string>,
  overrides: Partial<FunnelBody> = {},
): Promise<{ funnelId: string; body: FunnelBody }> {
  const funnelId = randomUUID();
  const body = funnelBody(overrides);
  const response = await putFunnelRequest(app, headers, funnelId, body);
  if (response.status !== 200) throw new Error(`seedFunnel: ${response.status} ${await response.text()}`);
  return { funnelId, body };
}

/** Stores a funnel and an A/B test of it for the account. */
export async function seedAbTest(
  app: TestApp["app"],
  headers: Record<string, string>,
): Promise<{ funnelId: string; testId: string; body: AbTestBody }> {
  const funnel = await seedFunnel(app, headers);
  const testId = randomUUID();
  const body = abTestBody(funnel.funnelId, funnel.body);
  const response = await putAbTestRequest(app, headers, testId, body);
  if (response.status !== 200) throw new Error(`seedAbTest: ${response.status} ${await response.text()}`);
  return { funnelId: funnel.funnelId, testId, body };
}

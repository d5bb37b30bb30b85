import { mkdir, readFile, writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import { eq } from "@funnel/db/orm";
import { accounts } from "@funnel/db/schema";
import { demoStory, generateDemoTraffic } from "@funnel/fixtures";
import type { Deps } from "../deps";
import { acceptImport } from "../ingest/accept";
import { putAbTest, putFunnel } from "../services/catalog";
import { createApiKey } from "../services/keys/create-key";

export const DEMO_ACCOUNT_ID = "de300000-0000-4000-8000-000000000001";
const DEMO_VISITORS_PER_FUNNEL = 600;
const DEMO_DAYS = 30;

/**
 * The embedded default's demo: an account, the demo funnels with their A/B tests, and a month of
 * traffic that shows what the reports find (@funnel/fixtures `demoStory`: a device that drops off
 * at checkout, a test with a winner and one without, refunds, a last step that sells to some),
 * sent through the real import path. Seeded once; the key is kept in DATA_DIR so later starts can
 * print it again (only its hash is in the database).
 */
export async function seedDemo(deps: Deps): Promise<{ accountId: string; apiKey: string; events: number }> {
  const keyFile = resolve(deps.config.DATA_DIR, "demo-api-key");
  const [existing] = await deps.database.db
    .select({ id: accounts.id })
    .from(accounts)
    .where(eq(accounts.id, DEMO_ACCOUNT_ID));
  if (existing) {
    const apiKey = (await readFile(keyFile, "utf8").catch(() => "")).trim();
    if (apiKey) return { accountId: DEMO_ACCOUNT_ID, apiKey, events: 0 };
  }

  const created = await createApiKey(deps, {
    accountId: DEMO_ACCOUNT_ID,
    accountName: "Demo account",
    name: "demo",
    notificationEmail: "demo@example.com",
  });
  await mkdir(deps.config.DATA_DIR, { recursive: true });
  await writeFile(keyFile, `${created.key}\n`, { mode: 0o600 });
  if (existing) return { accountId: DEMO_ACCOUNT_ID, apiKey: created.key, events: 0 };

  const scope = { accountId: DEMO_ACCOUNT_ID, keyId: created.keyId, notificationEmail: null };
  const now = new Date();
  let events = 0;
  for (const [i, story] of demoStory.entries()) {
    const { funnel } = story;
    await putFunnel(deps, scope, {
      id: funnel.id,
      name: funnel.name,
      steps: funnel.steps.map(({ id, name, step_type, position }) => ({ id, name, step_type, position })),
      pages: funnel.pages,
    });
    await putAbTest(deps, scope, {
      ...funnel.abTest,
      funnel_id: funnel.id,
      started_at: new Date(now.getTime() - DEMO_DAYS * 86_400_000).toISOString(),
    });
    const traffic = generateDemoTraffic({
      story,
      from: new Date(now.getTime() - DEMO_DAYS * 86_400_000),
      to: now,
      visitors: DEMO_VISITORS_PER_FUNNEL,
      seed: 2026 + i,
    });
    for (let start = 0; start < traffic.length; start += 5_000) {
      const result = await acceptImport(deps, scope, { events: traffic.slice(start, start + 5_000) });
      events += result.accepted;
    }
  }
  return { accountId: DEMO_ACCOUNT_ID, apiKey: created.key, events };
}

import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startExportWorker } from "../exports/worker";
import type { ExportWorker } from "../ports";
import { type AccountWithKey, createTestApp, type EventPipeline, startEventPipeline } from "../testing";
import { FUZZ_SEED, fuzzParameters } from "./fuzz";
import { type AccountData, matrixPeriod, seedAccountData } from "./isolation-fixtures";
import { documentedOperations, fillPath, type Operation } from "./routes";

/**
 * Every parameter (path and query) of every keyed GET route, read from the OpenAPI document, is
 * fuzzed in turn while the others stay valid: dates of any shape and year, time zones real and
 * made up, numbers out of range, unicode, NUL, repeated parameters. The answer is a 200, a 404
 * (an id that names nothing), or a 400 whose details name that parameter; never a 5xx.
 */

const t = await createTestApp();
const operations = (await documentedOperations(t)).filter((op) => op.keyed && op.method === "GET");

let pipeline: EventPipeline;
let exportWorker: ExportWorker;
let d: AccountData;

async function waitForExport(account: AccountWithKey, jobId: string): Promise<string> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const response = await t.app.request(`/api/v1/analytics/export/${jobId}`, { headers: account.headers });
    const status = (await response.json()) as { status: string; download_url?: string };
    if (status.status === "completed" && status.download_url) return status.download_url;
    if (Date.now() > deadline || status.status === "failed") throw new Error(`export ${status.status}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

beforeAll(async () => {
  exportWorker = await startExportWorker(t.deps, { cleanup: false });
  pipeline = startEventPipeline(t);
  d = await seedAccountData(t, pipeline, "Q", waitForExport);
});

afterAll(async () => {
  await pipeline?.close();
  await exportWorker?.close();
  await t.close();
});

/** The valid value of a parameter; none for an optional one that has no value without a previous answer. */
function validValue(name: string, required = true): string | undefined {
  const values: Record<string, string | undefined> = {
    ...matrixPeriod(),
    tz: "America/New_York",
    granularity: "hour",
    page: "1",
    page_size: "50",
    test_id: d.testId,
    funnel_id: d.funnelId,
    step_id: d.funnel.steps[0]?.id,
    visitor_id: d.visitorId,
    job_id: d.exportId,
    limit: "100",
  };
  const value = values[name];
  if (value === undefined && (required || name !== "cursor")) {
    throw new Error(`query fuzz: no valid value for parameter ${name}`);
  }
  return value;
}

const pad = (n: number, width: number) => String(n).padStart(width, "0");

/** Dates as clients get them wrong: any year, impossible days, offsets, leap seconds, bare numbers. */
const dateLike = fc.oneof(
  fc
    .date({
      min: new Date(-8_640_000_000_000_000),
      max: new Date(8_640_000_000_000_000),
      noInvalidDate: true,
    })
    .map((x) => x.toISOString()),
  fc
    .tuple(
      fc.integer({ min: 0, max: 10_000 }),
      fc.integer({ min: 0, max: 13 }),
      fc.integer({ min: 0, max: 32 }),
    )
    .map(([y, m, day]) => `${pad(y, 4)}-${pad(m, 2)}-${pad(day, 2)}`),
  fc
    .tuple(
      fc.integer({ min: 2020, max: 2030 }),
      fc.integer({ min: 0, max: 25 }),
      fc.integer({ min: 0, max: 61 }),
      fc.constantFrom("Z", "+05:45", "-12:00", "+14:00", "+25:00", "", "+0530"),
    )
    .map(([y, h, s, z]) => `${y}-06-15T${pad(h, 2)}:00:${pad(s, 2)}${z}`),
  fc.constantFrom(
    "2026-02-29",
    "2024-02-29",
    "2026-11-30T24:00:00Z",
    "1e10",
    "-1",
    "0",
    "now",
    "today",
    "2026-11-30T00:00:00.123456789Z",
  ),
);

const timeZoneLike = fc.oneof(
  fc.constantFrom(...Intl.supportedValuesOf("timeZone")),
  fc.constantFrom(
    "UTC",
    "utc",
    "Etc/GMT+14",
    "Etc/GMT-15",
    "+05:30",
    "Mars/Olympus_Mons",
    "../../etc/passwd",
    "America/New_York\u0000",
  ),
);

const anyText = fc.oneof(
  fc.string({ unit: "binary", maxLength: 30 }),
  fc.string({ unit: "grapheme", maxLength: 30 }),
  fc.constantFrom(
    "",
    " ",
    "\u0000",
    "\ud800",
    "__proto__",
    "constructor",
    "null",
    "[]",
    "{}",
    "%00",
    "' or 1=1 --",
  ),
  fc.nat({ max: 3_000 }).map((n) => "9".repeat(n)),
);

const numberLike = fc.oneof(
  fc.integer().map(String),
  fc.double().map(String),
  fc.constantFrom("0", "-1", "1.5", "1e3", "0x10", "501", "500", "9007199254740993", "Infinity", "NaN"),
);

/** What a client may send for one parameter: one value, or the parameter twice. */
function valuesFor(name: string): fc.Arbitrary<string[]> {
  const one = fc.oneof(
    anyText,
    fc.uuid(),
    name.startsWith("date") ? dateLike : name === "tz" ? timeZoneLike : numberLike,
  );
  return fc.oneof(
    { weight: 4, arbitrary: one.map((v) => [v]) },
    { weight: 1, arbitrary: fc.tuple(one, one) },
  );
}

/** A path segment as sent: any text UTF-8 percent-encoded, or bytes that are not UTF-8 at all. */
const pathSegment = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.oneof(anyText, fc.uuid()).map((v) => encodeURIComponent(Buffer.from(v).toString())),
  },
  { weight: 1, arbitrary: fc.constantFrom("%FF", "%", "%E0%A4%A", "%00", "..", "%2e%2e", "%2F", "%20") },
);

function request(op: Operation, fuzzed: string, values: string[]): Promise<Response> {
  const pathValues = Object.fromEntries(
    op.parameters
      .filter((p) => p.in === "path")
      .map((p) => [
        p.name,
        p.name === fuzzed ? (values[0] ?? "") : encodeURIComponent(validValue(p.name) ?? ""),
      ]),
  );
  const query = new URLSearchParams();
  for (const p of op.parameters.filter((x) => x.in === "query")) {
    if (p.name === fuzzed) for (const v of values) query.append(p.name, v);
    else {
      const value = validValue(p.name, p.required);
      if (value !== undefined) query.append(p.name, value);
    }
  }
  return Promise.resolve(
    t.app.request(`${fillPath(op.path, pathValues, true)}?${query}`, { headers: d.account.headers }),
  );
}

/** The fields a 400 about `name` may name: a period's two bounds are checked together. */
const accepted = (name: string) =>
  name === "date_from" || name === "date_to" ? ["date_from", "date_to"] : [name];

const cases = operations.flatMap((op) =>
  op.parameters.map((p) => [`${op.key} ${p.in} ${p.name}`, op, p.name] as const),
);

describe(`query and path parameters under fuzzing (seed ${FUZZ_SEED})`, () => {
  it("covers every parameter of every keyed GET route", () => {
    expect(operations.length).toBeGreaterThan(10);
    expect(cases.length).toBeGreaterThan(30);
  });

  it.each(cases)("%s: 200, 404 or a 400 naming it, never a 5xx", async (_name, op, name) => {
    const where = op.parameters.find((p) => p.name === name)?.in;
    await fc.assert(
      fc.asyncProperty(where === "path" ? pathSegment.map((v) => [v]) : valuesFor(name), async (values) => {
        const response = await request(op, name, values);
        expect([200, 400, 404]).toContain(response.status);
        if (response.status === 404)
          expect(where === "path" || name.endsWith("_id"), "a 404 for a non-id").toBe(true);
        if (response.status === 400) {
          const body = (await response.json()) as { error: { details?: { field: string }[] } };
          const fields = (body.error.details ?? []).map((f) => f.field);
          expect(
            fields.some((f) => accepted(name).includes(f)),
            `400 naming ${fields.join(", ")}`,
          ).toBe(true);
        }
      }),
      fuzzParameters(30),
    );
  });
});

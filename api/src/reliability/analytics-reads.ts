import { REPORT_TYPES } from "../exports/jobs";
import type { TestApp } from "../testing";
import { documentedOperations, fillPath } from "./routes";

/**
 * Every read of an account's analytics the API offers, for one funnel: each documented keyed GET
 * under /api/v1/analytics/ about a funnel, a step or a visitor (reports, real time, A/B results,
 * the journey), over periods that take each way through the report queries (whole UTC days, days
 * of another time zone with partial ends, hours inside a day, weeks), and an export of each report
 * type. A route added later is read too: it comes from the OpenAPI document.
 */

export interface ReadSubject {
  funnelId: string;
  stepIds: string[];
  visitorId: string;
  testId?: string | undefined;
}

export interface ReadAnswer {
  /** `GET /path?query` or `export <type>`. */
  label: string;
  status: number;
  body: string;
}

const DAY_MS = 86_400_000;

export function readPeriods(now = new Date()): Record<string, string>[] {
  const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
  const at = (ms: number) => new Date(ms).toISOString();
  const t = now.getTime();
  return [
    { date_from: day(t - 30 * DAY_MS), date_to: day(t), tz: "Europe/Berlin", granularity: "day" },
    { date_from: day(t - 7 * DAY_MS), date_to: day(t), tz: "UTC", granularity: "day" },
    { date_from: at(t - 6 * 3_600_000), date_to: at(t + 3_600_000), tz: "UTC", granularity: "hour" },
    { date_from: day(t - 90 * DAY_MS), date_to: day(t), tz: "America/New_York", granularity: "week" },
  ];
}

/** What each route's id parameters and paging take; periods are added per request. */
const PAGES: Record<string, string>[] = [{}, { page: "2", page_size: "1" }];

export async function readEverything(
  t: TestApp,
  headers: Record<string, string>,
  subject: ReadSubject,
  periods = readPeriods(),
): Promise<ReadAnswer[]> {
  const operations = (await documentedOperations(t)).filter(
    (op) =>
      op.keyed &&
      op.method === "GET" &&
      op.path.startsWith("/api/v1/analytics/") &&
      op.parameters.some((p) => p.in === "path" && ["funnel_id", "step_id", "visitor_id"].includes(p.name)),
  );
  const answers: ReadAnswer[] = [];
  for (const op of operations) {
    const names = new Set(op.parameters.filter((p) => p.in === "query").map((p) => p.name));
    const steps = op.path.includes("{step_id}") ? subject.stepIds : [undefined];
    const timed = names.has("date_from") ? periods : [{}];
    const pages = names.has("page") ? PAGES : [{}];
    for (const stepId of steps) {
      const path = fillPath(op.path, {
        funnel_id: subject.funnelId,
        visitor_id: subject.visitorId,
        ...(stepId === undefined ? {} : { step_id: stepId }),
      });
      for (const period of timed) {
        for (const page of pages) {
          const values: Record<string, string> = {
            ...period,
            ...page,
            funnel_id: subject.funnelId,
            ...(subject.testId === undefined ? {} : { test_id: subject.testId }),
          };
          const query = new URLSearchParams(
            [...names].flatMap((n): [string, string][] => (values[n] === undefined ? [] : [[n, values[n]]])),
          ).toString();
          const url = query ? `${path}?${query}` : path;
          const response = await t.app.request(url, { headers });
          answers.push({ label: `GET ${url}`, status: response.status, body: await response.text() });
        }
      }
    }
  }
  for (const reportType of REPORT_TYPES) {
    answers.push(await exportOf(t, headers, subject.funnelId, reportType, periods[0] ?? {}));
  }
  return answers;
}

/** An export of the report as CSV, run by the export worker the test started; its file's text. */
async function exportOf(
  t: TestApp,
  headers: Record<string, string>,
  funnelId: string,
  reportType: string,
  period: Record<string, string>,
): Promise<ReadAnswer> {
  const label = `export ${reportType}`;
  const { date_from, date_to, tz } = period;
  const posted = await t.app.request("/api/v1/analytics/export", {
    method: "POST",
    headers: { ...headers, "content-type": "application/json" },
    body: JSON.stringify({
      funnel_id: funnelId,
      report_type: reportType,
      format: "csv",
      date_from,
      date_to,
      tz,
    }),
  });
  if (posted.status !== 202) return { label, status: posted.status, body: await posted.text() };
  const jobId = ((await posted.json()) as { job_id: string }).job_id;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const response = await t.app.request(`/api/v1/analytics/export/${jobId}`, { headers });
    const status = (await response.json()) as { status: string; download_url?: string; error?: string };
    if (status.status === "completed" && status.download_url) {
      const file = await t.app.request(status.download_url);
      return { label, status: file.status, body: await file.text() };
    }
    if (status.status === "failed") return { label, status: 500, body: status.error ?? "failed" };
    if (Date.now() > deadline) throw new Error(`${label}: still ${status.status}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

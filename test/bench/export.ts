/**
 * `pnpm bench export`: one-year exports of each report type in each format (CSV, XLSX, PDF with
 * charts) on the data `pnpm bench reports` loads (database `bench_reports`: 5 funnels, by default
 * 10 million events over a year), each timed from the request to completed.
 *
 * Runs the API's export path in this process: the export service the POST route calls, BullMQ on
 * Redis, the export worker, the status service, then the signed download's service. No API
 * key is created (that would write to the database that `pnpm bench reports` owns): the request is
 * made with the bench account's scope, as the route does after checking a key. Nothing is written
 * to `bench_reports` but the export jobs themselves; no migration is run on it.
 *
 * Options (env): BENCH_EXPORT_REPORTS (default overview,conversions,dropoffs,revenue),
 * BENCH_EXPORT_FORMATS (default csv,xlsx,pdf), BENCH_EXPORT_FROM / BENCH_EXPORT_TO (default the
 * year 2025-11-01..2026-10-31), BENCH_EXPORT_FUNNEL (1-5, default 1).
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createDatabase } from "@funnel/db/client";
import { storageKind } from "@funnel/db/partitions";
import postgres from "postgres";
import { loadConfig } from "../../api/src/config";
import type { AccountScope } from "../../api/src/deps";
import type { ExportFormat, ReportType } from "../../api/src/exports/jobs";
import { createExportDeps } from "../../api/src/exports/runtime";
import { startExportWorker } from "../../api/src/exports/worker";
import { MemoryCache } from "../../api/src/infra/cache-memory";
import { createLogger } from "../../api/src/infra/logger";
import { createExport, getExport, openExportDownload } from "../../api/src/services/exports";
import { servicesUp, withDatabase } from "../support/services";

// As test/bench/reports.ts builds them (that file stays the one that loads the data).
const ACCOUNT = "be9c0000-0000-4000-8000-000000000001";
const funnelNumber = Number(process.env.BENCH_EXPORT_FUNNEL ?? 1);
const FUNNEL_ID = `be9c${(funnelNumber - 1).toString(16).padStart(4, "0")}-0000-4000-8000-000000000001`;
const PERIOD = {
  date_from: process.env.BENCH_EXPORT_FROM ?? "2025-11-01",
  date_to: process.env.BENCH_EXPORT_TO ?? "2026-10-31",
};
const reports = (process.env.BENCH_EXPORT_REPORTS ?? "overview,conversions,dropoffs,revenue").split(
  ",",
) as ReportType[];
const formats = (process.env.BENCH_EXPORT_FORMATS ?? "csv,xlsx,pdf").split(",") as ExportFormat[];

const { databaseUrl, redisUrl } = servicesUp();
const dbName = "bench_reports";
const admin = postgres(databaseUrl, { max: 1, onnotice: () => {} });
const exists = (await admin`select 1 from pg_database where datname = ${dbName}`).length > 0;
await admin.end();
if (!exists) {
  console.error(
    `database ${dbName} not found: run \`pnpm bench reports\` first (it loads the data this bench exports)`,
  );
  process.exit(1);
}
const url = withDatabase(databaseUrl, dbName);
const sql = postgres(url, { max: 1, onnotice: () => {} });
const [loaded] = await sql<{ events: string | null; funnel: number }[]>`
  select (select max(events) from bench_reports_meta)::text as events,
    (select count(*)::int from funnels where id = ${FUNNEL_ID}) as funnel`.catch(() => [
  { events: null, funnel: 0 },
]);
const [table] = await sql<{ present: boolean }[]>`select to_regclass('exports') is not null as present`;
await sql.end();
if (!loaded?.events || loaded.funnel === 0 || !table?.present) {
  console.error(
    `${dbName} holds no loaded bench data (or predates export jobs): run \`pnpm bench reports\` first`,
  );
  process.exit(1);
}
const events = Number(loaded.events);

const dataDir = await mkdtemp(join(tmpdir(), "bench-export-"));
const config = loadConfig({
  NODE_ENV: "production",
  LOG_LEVEL: "warn",
  DATABASE_URL: url,
  REDIS_URL: redisUrl,
  QUEUE_PREFIX: `bench-export-${Date.now()}`,
  DATA_DIR: dataDir,
  EXPORT_SIGNING_SECRET: randomBytes(32).toString("base64url"),
  DB_STATEMENT_TIMEOUT_MS: "600000",
});
const logger = createLogger(config);
// No migrate(): the schema is what `pnpm bench reports` made; this bench only reads it.
const database = await createDatabase({
  url,
  poolMax: 4,
  statementTimeoutMs: config.DB_STATEMENT_TIMEOUT_MS,
  applicationName: "bench-export",
});
database.kind = await storageKind(database.db);
// What the export routes and the worker use of the API's dependencies, as boot would choose them.
const deps = {
  config,
  database,
  cache: new MemoryCache(),
  logger,
  exports: await createExportDeps(config, { logger }),
};
const worker = await startExportWorker(deps, { cleanup: false });
// The bench account, as the POST route sees it once a key is checked; no key, so no key row.
const scope = { accountId: ACCOUNT, keyId: null, notificationEmail: null } as unknown as AccountScope;

const results: { report: string; format: string; seconds: number; bytes: number }[] = [];
try {
  console.log(
    `exporting ${PERIOD.date_from}..${PERIOD.date_to} of funnel ${funnelNumber} (${events.toLocaleString("en")} events in ${dbName})`,
  );
  for (const report of reports) {
    for (const format of formats) {
      const started = performance.now();
      const accepted = await createExport(deps, scope, {
        funnel_id: FUNNEL_ID,
        report_type: report,
        format,
        ...PERIOD,
        include_charts: format === "pdf",
      });
      let status = await getExport(deps, scope, { jobId: accepted.job_id });
      while (status.status !== "completed" && status.status !== "failed") {
        await new Promise((resolve) => setTimeout(resolve, 100));
        status = await getExport(deps, scope, { jobId: accepted.job_id });
      }
      const seconds = (performance.now() - started) / 1000;
      if (status.status === "failed") throw new Error(`${report} ${format}: ${status.error}`);
      const link = new URL(status.download_url ?? "", "http://bench");
      const download = await openExportDownload(deps, {
        jobId: accepted.job_id,
        expires: link.searchParams.get("expires") ?? undefined,
        signature: link.searchParams.get("signature") ?? undefined,
      });
      const bytes = (await new Response(download.body).arrayBuffer()).byteLength;
      console.log(`  ${report} ${format}: ${seconds.toFixed(1)} s, ${(bytes / 1024).toFixed(0)} KiB`);
      results.push({ report, format: format === "pdf" ? "pdf (charts)" : format, seconds, bytes });
    }
  }
} finally {
  await worker.close();
  await deps.exports.queue.close();
  await database.close();
  await rm(dataDir, { recursive: true, force: true });
}

console.log(`\n${events.toLocaleString("en")} events, ${PERIOD.date_from}..${PERIOD.date_to}, one funnel\n`);
console.log("| report | format | request → completed | file size |");
console.log("| --- | --- | ---: | ---: |");
for (const r of results) {
  const size =
    r.bytes >= 1024 * 1024
      ? `${(r.bytes / 1024 / 1024).toFixed(1)} MiB`
      : `${(r.bytes / 1024).toFixed(0)} KiB`;
  console.log(`| ${r.report} | ${r.format} | ${r.seconds.toFixed(1)} s | ${size} |`);
}

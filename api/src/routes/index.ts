import type { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv, Deps } from "../deps";
import abTests from "./ab-tests";
import analyticsAbTests from "./analytics-ab-tests";
import analyticsConsent from "./analytics-consent";
import analyticsConversions from "./analytics-conversions";
import analyticsDropoffs from "./analytics-dropoffs";
import analyticsExport from "./analytics-export";
import analyticsExportDownload from "./analytics-export-download";
import analyticsExportStatus from "./analytics-export-status";
import analyticsJourney from "./analytics-journey";
import analyticsOverview from "./analytics-overview";
import analyticsRealtime from "./analytics-realtime";
import analyticsRevenue from "./analytics-revenue";
import analyticsStep from "./analytics-step";
import dashboard from "./dashboard";
import docs from "./docs";
import funnels from "./funnels";
import health from "./health";
import importEvents from "./import";
import internalIngest from "./internal-ingest";
import metrics from "./metrics";
import track from "./track";

export type App = OpenAPIHono<AppEnv>;
export type RegisterRoute = (app: App, deps: Deps) => void;

/** Every route of the API, one file each. docs comes last: it describes what the others declared. */
export const routes: RegisterRoute[] = [
  health,
  metrics,
  track,
  importEvents,
  internalIngest,
  funnels,
  abTests,
  analyticsOverview,
  analyticsStep,
  analyticsConversions,
  analyticsDropoffs,
  analyticsRevenue,
  analyticsAbTests,
  analyticsRealtime,
  analyticsExport,
  analyticsExportStatus,
  analyticsExportDownload,
  analyticsJourney,
  analyticsConsent,
  dashboard,
  docs,
];

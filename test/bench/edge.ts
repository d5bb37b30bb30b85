/**
 * `pnpm bench edge`: the edge worker in local workerd (`wrangler dev`, with its local Durable
 * Object and Queue): /track requests/s and latency, and the events/s its queue consumer delivers
 * in signed batches to an API stand-in (a Node server that checks each signature and counts).
 * The stand-in isolates the edge: the API's own ingest rate is `pnpm bench ingest`.
 *
 * Options (env): BENCH_EDGE_SECONDS (per run, default 15), BENCH_EDGE_CONNECTIONS (default 50).
 */
import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { cpus, loadavg } from "node:os";
import { verifyBatchSignature } from "@funnel/events/signing";
import { springSale } from "@funnel/fixtures";
import autocannon from "autocannon";
import { startEdge } from "../support/edge-process";

const seconds = Number(process.env.BENCH_EDGE_SECONDS ?? 15);
const connections = Number(process.env.BENCH_EDGE_CONNECTIONS ?? 50);
const secret = randomUUID() + randomUUID();
const loadBefore = loadavg()[0] ?? 0;

let delivered = 0;
let batches = 0;
let badSignatures = 0;
let lastDelivery = 0;
let duplicates = 0;
const seen = new Set<string>();
const sink = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", async () => {
    const rawBody = Buffer.concat(chunks).toString();
    const check = await verifyBatchSignature({
      secret,
      timestamp: req.headers["x-funnel-timestamp"] as string | undefined,
      signature: req.headers["x-funnel-signature"] as string | undefined,
      rawBody,
    });
    if (!check.ok) badSignatures++;
    const batch = (JSON.parse(rawBody) as { events: { event_id: string }[] }).events;
    for (const { event_id } of batch) {
      if (seen.has(event_id)) duplicates++;
      seen.add(event_id);
    }
    const events = batch.length;
    delivered += events;
    batches++;
    lastDelivery = Date.now();
    res.writeHead(202, { "content-type": "application/json" });
    res.end(JSON.stringify({ accepted: events, rejected: [] }));
  });
});
await new Promise<void>((done) => sink.listen(0, "127.0.0.1", done));
const sinkUrl = `http://127.0.0.1:${(sink.address() as AddressInfo).port}`;

// The limit stays in the path (one Durable Object call per request) but does not throttle the run.
const edge = await startEdge({
  API_URL: sinkUrl,
  EDGE_SIGNING_SECRET: secret,
  RATE_LIMIT_EVENTS_PER_SECOND: "100000000",
  FORWARD_RETRY_BASE_SECONDS: "1",
});

const event = () => ({
  event_type: "page_view",
  funnel_id: springSale.id,
  page_id: springSale.pages[0]?.id,
  session_id: randomUUID(),
  visitor_id: randomUUID(),
  url: "https://shop.example.com/spring",
});

async function run(eventsPerRequest: number) {
  const startDelivered = delivered;
  const startBatches = batches;
  const t0 = Date.now();
  const result = await autocannon({
    url: `${edge.url}/api/v1/analytics/track`,
    method: "POST",
    connections,
    duration: seconds,
    headers: {
      "content-type": "text/plain",
      "user-agent": "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    },
    requests: [
      {
        setupRequest: (req) => ({
          ...req,
          body: JSON.stringify({ events: Array.from({ length: eventsPerRequest }, event) }),
        }),
      },
    ],
  });
  const accepted = result["2xx"] * eventsPerRequest;
  // Drained when the stand-in has at least what was answered 202 and nothing more arrives for 3 s
  // (autocannon may not count answers that land after its deadline).
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    if (delivered - startDelivered >= accepted && Date.now() - lastDelivery > 3_000) break;
  }
  const runDelivered = delivered - startDelivered;
  return {
    events_per_request: eventsPerRequest,
    requests_per_s: Math.round(result.requests.average),
    latency_ms: { p50: result.latency.p50, p99: result.latency.p99 },
    non_2xx: result.non2xx,
    errors: result.errors,
    /** 202s autocannon counted; the requests still in flight at its deadline are delivered too. */
    events_accepted_in_window: accepted,
    events_delivered: runDelivered,
    delivered_events_per_s: Math.round(runDelivered / ((lastDelivery - t0) / 1000)),
    batches: batches - startBatches,
    events_per_batch: Math.round(runDelivered / Math.max(1, batches - startBatches)),
    drain_after_load_s: (lastDelivery - t0) / 1000 - seconds,
  };
}

/** The same harness on GET /t.js: what wrangler dev's local proxy and workerd give a trivial route. */
async function baseline() {
  const result = await autocannon({ url: `${edge.url}/t.js`, connections, duration: seconds });
  return {
    requests_per_s: Math.round(result.requests.average),
    latency_ms: { p50: result.latency.p50, p99: result.latency.p99 },
  };
}

try {
  const report = {
    t_js_baseline: await baseline(),
    date: new Date().toISOString().slice(0, 10),
    cores: cpus().length,
    // Other work on the machine shows here: the figures are only comparable at a similar load.
    load_average_1m_before: Number(loadBefore.toFixed(2)),
    connections,
    seconds_per_run: seconds,
    runs: [await run(1), await run(20)],
    bad_signatures: badSignatures,
    duplicate_event_ids: duplicates,
  };
  console.log(JSON.stringify(report, null, 2));
  if (badSignatures > 0 || duplicates > 0) process.exitCode = 1;
} finally {
  await edge.stop();
  sink.close();
}

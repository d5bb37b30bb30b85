import { Agent, request } from "node:http";

/**
 * An open-loop load of evenly spaced requests: request i is due at start + i / rate, whatever
 * happened to the ones before, and its latency counts from when it was due (so a stalled server
 * or client shows in the figures instead of delaying the load), or from when it was sent if that
 * was earlier (a timer cannot wait less than a millisecond). autocannon's `overallRate` sends
 * each second's requests in a burst at the start of the second; on a bare Node server answering
 * in microseconds that alone measured p99 33 ms at 200 requests/s over 20 connections.
 *
 * Its connections are opened before the clock starts (`warmPath`, fetched on all of them at once),
 * and there are enough of them that a slow moment does not leave requests waiting for a free one:
 * with 64, at 5,000 requests/s every answer slower than 12.8 ms held up the requests after it, and
 * connections opened in a burst mid-run waited for the server's accept queue (p99.9 of 2 s).
 */

export interface PacedLoadResult {
  requests: number;
  achievedPerSecond: number;
  non2xx: number;
  errors: number;
  latencyMs: { p50: number; p90: number; p99: number; p99_9: number; max: number };
}

export async function pacedLoad(options: {
  /** Several: request i goes to url[i % n], as a load balancer in front of several processes would. */
  url: string | string[];
  headers?: Record<string, string>;
  /** A POST of this body and these extra headers for request i; GET when absent. */
  post?: (i: number) => { body: string; headers?: Record<string, string> };
  ratePerSecond: number;
  seconds: number;
  /** Keep-alive connections to each url, all opened before the clock starts (default 256). */
  connections?: number;
  /** A cheap GET on the same server that opens them (default `/healthz`). */
  warmPath?: string;
}): Promise<PacedLoadResult> {
  const connections = options.connections ?? 256;
  // In turn (fifo), so that none idles past the server's keep-alive timeout and is closed just as
  // a request goes out on it.
  const agent = new Agent({
    keepAlive: true,
    maxSockets: connections,
    maxFreeSockets: connections,
    scheduling: "fifo",
  });
  const targets = (Array.isArray(options.url) ? options.url : [options.url]).map((u) => new URL(u));
  await Promise.all(
    targets.flatMap((target) =>
      Array.from(
        { length: connections },
        () =>
          new Promise<void>((done, fail) => {
            const req = request(new URL(options.warmPath ?? "/healthz", target), { agent }, (res) => {
              res.resume();
              res.on("end", done);
            });
            req.on("error", fail);
            req.end();
          }),
      ),
    ),
  );
  const total = Math.round(options.ratePerSecond * options.seconds);
  const intervalMs = 1_000 / options.ratePerSecond;
  const latencies: number[] = [];
  let non2xx = 0;
  let errors = 0;
  const start = performance.now();
  const inFlight: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = start + i * intervalMs;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const post = options.post?.(i);
    const from = Math.min(due, performance.now());
    inFlight.push(
      new Promise<void>((done) => {
        const req = request(
          targets[i % targets.length] as URL,
          {
            method: post ? "POST" : "GET",
            agent,
            headers: { ...options.headers, ...post?.headers },
          },
          (res) => {
            res.resume();
            res.on("end", () => {
              latencies.push(performance.now() - from);
              if ((res.statusCode ?? 0) < 200 || (res.statusCode ?? 0) >= 300) non2xx++;
              done();
            });
          },
        );
        req.on("error", () => {
          errors++;
          done();
        });
        req.end(post?.body);
      }),
    );
  }
  await Promise.all(inFlight);
  const elapsedS = (performance.now() - start) / 1_000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const at = (q: number) =>
    round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0);
  return {
    requests: total,
    achievedPerSecond: Math.round(latencies.length / elapsedS),
    non2xx,
    errors,
    latencyMs: { p50: at(0.5), p90: at(0.9), p99: at(0.99), p99_9: at(0.999), max: at(1) },
  };
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

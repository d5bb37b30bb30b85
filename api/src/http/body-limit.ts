import type { HttpBindings } from "@hono/node-server";
import type { Context, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { PayloadTooLargeError } from "../errors";

/**
 * Every route that reads a body has a limit, sized to the largest body its schema admits, and
 * refuses more with a 413 before it is read whole: a declared Content-Length over the limit is
 * refused from the headers, a body without one is cut off where it passes the limit. /track and
 * /import take theirs from the config (TRACK_BODY_LIMIT_BYTES, IMPORT_BODY_LIMIT_BYTES).
 */
export const BODY_LIMIT_BYTES = {
  /**
   * PUT /api/v1/funnels/{id}: 100 steps and 500 pages with every name and URL at its longest in
   * three-byte characters are 3.4 MiB of JSON.
   */
  funnel: 4 * 1024 * 1024,
  /** PUT /api/v1/ab-tests/{id}: 20 variants with the longest names in three-byte characters, 10 KB. */
  abTest: 16 * 1024,
  /** POST /api/v1/analytics/export: a handful of ids, dates and names, well under 1 KB. */
  export: 8 * 1024,
  /**
   * POST /internal/ingest: one edge delivery is at most 100 queue messages (the Queues consumer's
   * largest batch) of at most 128 KiB each (the Queues message limit).
   */
  edgeBatch: 100 * 128 * 1024,
} as const;

/**
 * Refuses bodies over `maxBytes` with the shared error body (413): from the Content-Length, or
 * while streaming a body sent without one (hono/body-limit stops reading at the limit).
 */
export function limitBody(maxBytes: number): MiddlewareHandler {
  return bodyLimit({
    maxSize: maxBytes,
    onError: () => {
      throw new PayloadTooLargeError(maxBytes);
    },
  });
}

/**
 * The request body's bytes, refused past `maxBytes` (413) from its Content-Length or as soon as
 * the bytes read pass it. On Node it is read straight from the socket: building a fetch `Request`
 * just to read a small body cost more than the rest of /track. In-process tests (`app.request()`)
 * have no socket and read the Request's stream the same way.
 */
export async function readBodyBytes(c: Context, maxBytes: number): Promise<Buffer> {
  const declared = Number(c.req.header("content-length") ?? Number.NaN);
  if (declared > maxBytes) throw new PayloadTooLargeError(maxBytes);
  const incoming = (c.env as Partial<HttpBindings> | undefined)?.incoming;
  const source: AsyncIterable<Uint8Array> | null = incoming ?? streamOf(c.req.raw.body);
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (source !== null) {
    for await (const chunk of source) {
      size += chunk.length;
      if (size > maxBytes) throw new PayloadTooLargeError(maxBytes);
      chunks.push(chunk);
    }
  }
  return Buffer.concat(chunks, size);
}

/** A web stream as an async iterable that cancels the stream when the reader stops early. */
function streamOf(body: ReadableStream<Uint8Array> | null): AsyncIterable<Uint8Array> | null {
  if (body === null) return null;
  return {
    async *[Symbol.asyncIterator]() {
      const reader = body.getReader();
      let done = false;
      try {
        for (;;) {
          const next = await reader.read();
          if (next.done) {
            done = true;
            return;
          }
          yield next.value;
        }
      } finally {
        if (!done) await reader.cancel().catch(() => undefined);
      }
    },
  };
}

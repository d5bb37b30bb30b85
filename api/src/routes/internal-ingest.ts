import {
  checkSignatureHeaders,
  SIGNATURE_HEADER,
  SIGNATURE_MAX_SKEW_MS,
  TIMESTAMP_HEADER,
  verifyBatchSignature,
} from "@funnel/events/signing";
import { createRoute, z } from "@hono/zod-openapi";
import { InvalidError, UnauthorizedError, UnavailableError } from "../errors";
import { BODY_LIMIT_BYTES, readBodyBytes } from "../http/body-limit";
import { errorResponses } from "../http/errors";
import { acceptEdgeBatch } from "../ingest/accept";
import { storedEvent } from "../ingest/batch-schema";
import { type AcceptResponse, acceptResponse, fieldErrorSchema, parseJson } from "../ingest/http";
import type { RegisterRoute } from "./index";

const PATH = "/internal/ingest";

export const route = createRoute({
  method: "post",
  path: PATH,
  tags: ["Internal"],
  summary: "Batches forwarded by the edge worker",
  description:
    `Signed with EDGE_SIGNING_SECRET: \`${TIMESTAMP_HEADER}\` is the signing time (unix ms) and ` +
    `\`${SIGNATURE_HEADER}\` the hex HMAC-SHA256 of \`<timestamp>.<raw body bytes>\`. Unsigned, ` +
    "badly formed and stale (more than 5 minutes off) signatures are refused from the headers, before the " +
    "body is read; mis-signed batches, and a signature already used, after. 413 past " +
    `${BODY_LIMIT_BYTES.edgeBatch} bytes; 503 when no secret is configured.`,
  request: {
    headers: z.object({ [TIMESTAMP_HEADER]: z.string(), [SIGNATURE_HEADER]: z.string() }),
    body: {
      required: true,
      content: {
        "application/json": {
          schema: z.object({
            events: z.array(storedEvent),
            rejected: z
              .array(
                z.object({ index: z.number().int(), errors: z.array(fieldErrorSchema), raw: z.unknown() }),
              )
              .optional(),
          }),
        },
      },
    },
  },
  responses: {
    202: { description: "Queued", content: { "application/json": { schema: acceptResponse } } },
    ...errorResponses(400, 401, 413, 503),
  },
});

const register: RegisterRoute = (app, deps) => {
  app.openAPIRegistry.registerPath(route);
  app.post(PATH, async (c) => {
    const secret = deps.config.EDGE_SIGNING_SECRET;
    if (secret === undefined)
      throw new UnavailableError("edge ingest is not configured (EDGE_SIGNING_SECRET)");
    const timestamp = c.req.header(TIMESTAMP_HEADER);
    const signature = c.req.header(SIGNATURE_HEADER) ?? "";
    // A batch no body could make valid is refused before a byte of it is read.
    const headers = checkSignatureHeaders({ timestamp, signature });
    if (!headers.ok) throw new UnauthorizedError(`batch signature ${headers.reason}`);
    // The signature covers the bytes as sent: checked on them, not on text decoded from them (which
    // would let other bytes, say an invalid sequence or a BOM, pass for the signed ones).
    const rawBody = await readBodyBytes(c, BODY_LIMIT_BYTES.edgeBatch);
    const check = await verifyBatchSignature({ secret, timestamp, signature, rawBody });
    if (!check.ok) throw new UnauthorizedError(`batch signature ${check.reason}`);
    // A captured batch replayed inside the skew window is refused: each signature is taken once, and
    // remembered for as long as its timestamp would pass. The edge signs every delivery attempt anew.
    if (
      !(await deps.cache.claim(`edge-batch:${signature.toLowerCase()}`, (2 * SIGNATURE_MAX_SKEW_MS) / 1000))
    )
      throw new UnauthorizedError("batch signature replayed");
    const result: AcceptResponse = await acceptEdgeBatch(deps, parseJson(utf8(rawBody)));
    return c.json(result, 202);
  });
};

/** The signed bytes as text; the edge sends JSON.stringify's output, always valid UTF-8. */
function utf8(bytes: Uint8Array): string {
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new InvalidError("request body is not UTF-8", [{ field: "body", message: "must be UTF-8" }]);
  }
}

export default register;

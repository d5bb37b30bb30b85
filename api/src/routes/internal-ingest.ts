import {
  SIGNATURE_HEADER,
  SIGNATURE_MAX_SKEW_MS,
  TIMESTAMP_HEADER,
  verifyBatchSignature,
} from "@funnel/events/signing";
import { createRoute, z } from "@hono/zod-openapi";
import { UnauthorizedError, UnavailableError } from "../errors";
import { errorResponses } from "../http/errors";
import { acceptEdgeBatch } from "../ingest/accept";
import { storedEvent } from "../ingest/batch-schema";
import { type AcceptResponse, acceptResponse, fieldErrorSchema, limitBody, parseJson } from "../ingest/http";
import type { RegisterRoute } from "./index";

const PATH = "/internal/ingest";

export const route = createRoute({
  method: "post",
  path: PATH,
  tags: ["Internal"],
  summary: "Batches forwarded by the edge worker",
  description:
    `Signed with EDGE_SIGNING_SECRET: \`${TIMESTAMP_HEADER}\` is the signing time (unix ms) and ` +
    `\`${SIGNATURE_HEADER}\` the hex HMAC-SHA256 of \`<timestamp>.<raw body>\`. Unsigned, mis-signed and ` +
    "stale (more than 5 minutes off) batches are refused, and so is a signature already used; 503 when no " +
    "secret is configured.",
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
  app.post(PATH, limitBody(deps.config.IMPORT_BODY_LIMIT_BYTES), async (c) => {
    const secret = deps.config.EDGE_SIGNING_SECRET;
    if (secret === undefined)
      throw new UnavailableError("edge ingest is not configured (EDGE_SIGNING_SECRET)");
    // The signature covers the exact bytes sent, so it is checked on the raw text before parsing.
    const rawBody = await c.req.text();
    const check = await verifyBatchSignature({
      secret,
      timestamp: c.req.header(TIMESTAMP_HEADER),
      signature: c.req.header(SIGNATURE_HEADER),
      rawBody,
    });
    if (!check.ok) throw new UnauthorizedError(`batch signature ${check.reason}`);
    // A captured batch replayed inside the skew window is refused: each signature is taken once, and
    // remembered for as long as its timestamp would pass. The edge signs every delivery attempt anew.
    const signature = c.req.header(SIGNATURE_HEADER) ?? "";
    if (
      !(await deps.cache.claim(`edge-batch:${signature.toLowerCase()}`, (2 * SIGNATURE_MAX_SKEW_MS) / 1000))
    )
      throw new UnauthorizedError("batch signature replayed");
    const result: AcceptResponse = await acceptEdgeBatch(deps, parseJson(rawBody));
    return c.json(result, 202);
  });
};

export default register;

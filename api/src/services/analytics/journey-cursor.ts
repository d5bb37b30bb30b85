import { createHash } from "node:crypto";
import type { JourneyPosition } from "@funnel/db/queries/journey";
import { z } from "zod";
import { InvalidError } from "../../errors";

/**
 * The journey's `cursor`: where the next page starts, opaque to clients (base64url of a small
 * JSON object). It carries a digest of its position and of the request it was issued for
 * (account, visitor, funnel filter), so that a cursor altered, cut, or used for another visitor,
 * filter or account is a 400 naming `cursor` rather than a page of something else. The digest is
 * not a secret: a cursor forged anyway only moves within the caller's own journey, as every read
 * is keyed by the key's account.
 */

export interface CursorBinding {
  accountId: string;
  visitorId: string;
  funnelId?: string | undefined;
}

const MICROSECOND_ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
const isoText = z.string().regex(MICROSECOND_ISO);

const cursorSchema = z
  .object({
    v: z.literal(1),
    s: isoText,
    f: z.uuid(),
    i: z.string().min(1).max(100),
    t: isoText,
    e: z.uuid(),
    d: z.string(),
  })
  .strict();

type CursorFields = Omit<z.infer<typeof cursorSchema>, "d">;

function digest(binding: CursorBinding, fields: CursorFields): string {
  const text = JSON.stringify([
    binding.accountId,
    binding.visitorId.toLowerCase(),
    binding.funnelId?.toLowerCase() ?? null,
    fields.v,
    fields.s,
    fields.f,
    fields.i,
    fields.t,
    fields.e,
  ]);
  return createHash("sha256").update(text).digest("base64url").slice(0, 22);
}

/** The cursor of the page that starts after `position`'s event. */
export function encodeJourneyCursor(
  binding: CursorBinding,
  position: JourneyPosition & { after: NonNullable<JourneyPosition["after"]> },
): string {
  const fields: CursorFields = {
    v: 1,
    s: position.startedAt,
    f: position.funnelId,
    i: position.sessionId,
    t: position.after.at,
    e: position.after.eventId,
  };
  return Buffer.from(JSON.stringify({ ...fields, d: digest(binding, fields) })).toString("base64url");
}

/** The position a cursor names; InvalidError naming `cursor` when it is not one issued for `binding`. */
export function decodeJourneyCursor(binding: CursorBinding, cursor: string): JourneyPosition {
  const invalid = (message: string) => new InvalidError("invalid query", [{ field: "cursor", message }]);
  if (!/^[A-Za-z0-9_-]{1,1024}$/.test(cursor)) throw invalid("must be a cursor from a previous page");
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    throw invalid("must be a cursor from a previous page");
  }
  const parsed = cursorSchema.safeParse(decoded);
  if (!parsed.success) throw invalid("must be a cursor from a previous page");
  const { d, ...fields } = parsed.data;
  if (d !== digest(binding, fields)) {
    throw invalid("was not issued for this visitor, funnel_id and key, or was altered");
  }
  return {
    startedAt: fields.s,
    funnelId: fields.f,
    sessionId: fields.i,
    after: { at: fields.t, eventId: fields.e },
  };
}

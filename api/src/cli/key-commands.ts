import { z } from "zod";
import type { Deps } from "../deps";
import { NotFoundError } from "../errors";
import { createApiKey } from "../services/keys/create-key";
import { revokeApiKey } from "../services/keys/revoke-key";

/**
 * What `pnpm keys:create` and `pnpm keys:revoke` ask for. The same command runs in the CLI's own
 * process, or, when the running API holds the embedded database, in that process (key-socket.ts).
 */
export const keyCommand = z.discriminatedUnion("command", [
  z.object({
    command: z.literal("create"),
    accountId: z.uuid({ message: "account_id must be a UUID" }),
    name: z.string().min(1).max(200).optional(),
    email: z.email({ message: "--email must be an email address" }).optional(),
  }),
  z.object({
    command: z.literal("revoke"),
    accountId: z.uuid({ message: "account_id must be a UUID" }),
    /** A key id, or the key itself. */
    key: z.string().min(1).max(200),
  }),
]);
export type KeyCommand = z.infer<typeof keyCommand>;

/** The outcome, sent back over the socket as it is: a reply is only ever sent after the write. */
export const keyReply = z.discriminatedUnion("outcome", [
  z.object({
    outcome: z.literal("created"),
    /** The key itself: shown once by the CLI, stored only as its hash. */
    key: z.string(),
    keyId: z.string(),
    prefix: z.string(),
    accountId: z.string(),
    accountCreated: z.boolean(),
  }),
  z.object({ outcome: z.literal("revoked") }),
  z.object({ outcome: z.literal("not_found") }),
  /** The command did not run to the end (invalid, or the database failed): nothing was changed. */
  z.object({ outcome: z.literal("failed"), message: z.string() }),
]);
export type KeyReply = z.infer<typeof keyReply>;

/**
 * Runs a key command on `ctx`'s database. In the API process `ctx.keys` is its key cache, which
 * the revoke empties at once. Errors other than a key not found are thrown.
 */
export async function runKeyCommand(
  ctx: Pick<Deps, "database"> & Partial<Pick<Deps, "keys">>,
  command: KeyCommand,
): Promise<KeyReply> {
  if (command.command === "create") {
    const created = await createApiKey(ctx, {
      accountId: command.accountId,
      name: command.name,
      notificationEmail: command.email,
    });
    return { outcome: "created", ...created };
  }
  try {
    await revokeApiKey(ctx, { accountId: command.accountId }, { key: command.key });
    return { outcome: "revoked" };
  } catch (error) {
    if (error instanceof NotFoundError) return { outcome: "not_found" };
    throw error;
  }
}

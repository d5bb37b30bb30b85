import type { MiddlewareHandler } from "hono";
import type { AppEnv, Deps } from "../deps";
import { UnauthorizedError } from "../errors";
import { authenticate } from "../services/keys/authenticate";

/** `Authorization: Bearer <api key>` on every route but tracking, health and docs. */
export function requireApiKey(deps: Pick<Deps, "database" | "keys">): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const header = c.req.header("authorization") ?? "";
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match?.[1]) throw new UnauthorizedError();
    c.set("scope", await authenticate(deps, match[1]));
    await next();
  };
}

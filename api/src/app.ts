import { OpenAPIHono } from "@hono/zod-openapi";
import { requestId } from "hono/request-id";
import type { AppEnv, Deps } from "./deps";
import { InvalidError, NotFoundError } from "./errors";
import {
  clientClosedRequest,
  clientClosedResponse,
  errorResponse,
  isExpectedError,
  toErrorResponse,
} from "./http/errors";
import { httpMetrics } from "./http/metrics";
import { routes } from "./routes";

export function createApp(deps: Deps): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({
    // zod validation failures of declared routes use the same error body, naming each field.
    defaultHook: (result, c) => {
      if (result.success) return;
      const details = result.error.issues.map((i) => ({
        field: i.path.join(".") || "body",
        message: i.message,
      }));
      return errorResponse(c, new InvalidError("invalid request", details));
    },
  });
  app.use(httpMetrics(deps.metrics));
  app.use(requestId({ headerName: "x-request-id" }));
  app.use(async (c, next) => {
    if (!deps.logger.isLevelEnabled("debug")) return next();
    const started = performance.now();
    await next();
    deps.logger.debug(
      {
        request_id: c.get("requestId"),
        method: c.req.method,
        path: c.req.routePath,
        status: c.res.status,
        ms: Math.round(performance.now() - started),
      },
      "request",
    );
  });
  app.onError((error, c) => {
    // Whatever the read of an aborted upload threw (a reset socket, a JSON parser's complaint).
    if (clientClosedRequest(c)) return clientClosedResponse(c, deps.logger);
    if (!isExpectedError(error)) {
      deps.logger.error({ request_id: c.get("requestId"), err: error }, "unhandled error");
    }
    return toErrorResponse(c, error);
  });
  app.notFound((c) => errorResponse(c, new NotFoundError("route")));
  for (const register of routes) register(app, deps);
  return app;
}

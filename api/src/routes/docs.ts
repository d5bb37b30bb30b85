import { Scalar } from "@scalar/hono-api-reference";
import type { RegisterRoute } from "./index";

const OPENAPI_PATH = "/openapi.json";

/**
 * The OpenAPI 3.1 document generated from the route schemas that validate requests, and a
 * browsable reference of it. Registered last, so every other route has declared itself.
 */
const register: RegisterRoute = (app) => {
  app.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", {
    type: "http",
    scheme: "bearer",
    description: "An API key: `Authorization: Bearer fa_live_…` (create one with `pnpm keys:create`)",
  });
  app.doc31(OPENAPI_PATH, {
    openapi: "3.1.0",
    info: {
      title: "Funnel Analytics API",
      version: "1.0.0",
      description:
        "Event ingestion, the funnel catalog, and funnel reports (SPEC-FUN-004). Every route but tracking, " +
        "health and docs needs an API key; a key sees only its account's data, and another account's " +
        "resources answer 404.",
    },
    tags: [
      { name: "Tracking", description: "Event ingestion; answered 202 once events are durably queued" },
      { name: "Catalog", description: "Funnels, steps, pages and A/B tests pushed by the funnel builder" },
      { name: "Operations", description: "Probes and metrics" },
    ],
  });
  app.get("/docs", Scalar({ url: OPENAPI_PATH, pageTitle: "Funnel Analytics API" }));
};

export default register;

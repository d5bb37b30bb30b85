import type { TestApp } from "../testing";

/**
 * Every operation of the API, read from the OpenAPI document the app serves, and every handler
 * Hono has registered: a route added later is in one of them, so the suite cannot miss it.
 */

export interface Operation {
  method: string;
  /** OpenAPI form: `/api/v1/funnels/{funnel_id}`. */
  path: string;
  /** `GET /api/v1/funnels/{funnel_id}` */
  key: string;
  keyed: boolean;
  parameters: { name: string; in: "path" | "query" | "header"; required: boolean }[];
  hasBody: boolean;
}

interface OpenApiOperation {
  security?: unknown[];
  parameters?: { name: string; in: "path" | "query" | "header"; required?: boolean }[];
  requestBody?: unknown;
}

export async function documentedOperations(t: TestApp): Promise<Operation[]> {
  const response = await t.app.request("/openapi.json");
  if (response.status !== 200) throw new Error(`/openapi.json answered ${response.status}`);
  const doc = (await response.json()) as { paths: Record<string, Record<string, OpenApiOperation>> };
  return Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => ({
      method: method.toUpperCase(),
      path,
      key: `${method.toUpperCase()} ${path}`,
      keyed: (op.security ?? []).length > 0,
      parameters: (op.parameters ?? []).map((p) => ({
        name: p.name,
        in: p.in,
        required: p.required === true,
      })),
      hasBody: op.requestBody !== undefined,
    })),
  );
}

/** `METHOD /path/{param}` of every handler Hono would run (middleware, registered for ALL, left out). */
export function registeredHandlers(t: TestApp): string[] {
  const keys = t.app.routes
    .filter((r) => r.method !== "ALL")
    .map((r) => `${r.method} ${r.path.replace(/:([A-Za-z0-9_]+)/g, "{$1}")}`);
  return [...new Set(keys)].sort();
}

/** The path with its `{params}` filled in, URL-encoded unless `encoded` says they already are. */
export function fillPath(path: string, values: Record<string, string>, encoded = false): string {
  return path.replace(/\{([^}]+)\}/g, (_, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`no value for path parameter ${name} of ${path}`);
    return encoded ? value : encodeURIComponent(value);
  });
}

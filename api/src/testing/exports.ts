import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { parse } from "csv-parse/sync";
import ExcelJS from "exceljs";
import { PNG } from "pngjs";

/**
 * Reading export files back the way a user's tools would: CSV parsed as RFC 4180, XLSX opened with
 * ExcelJS, PDF through poppler's pdftotext and pdftoppm (installed by scripts/services/up.sh), PNG
 * decoded with pngjs. Plus the polling of an export job through its routes.
 */

const run = promisify(execFile);

/**
 * RFC 4180 records, read as a spreadsheet reads them: a record ends at CRLF, LF or CR outside
 * quotes; the byte-order mark dropped.
 */
export function parseCsv(text: string): string[][] {
  return parse(text, { bom: true, record_delimiter: ["\r\n", "\n", "\r"], relax_column_count: true });
}

export interface CsvTable {
  title: string;
  header: string[];
  rows: string[][];
}

/** An export CSV: its header block (field → value) and its sections, split at blank lines. */
export function csvSections(text: string): { meta: Map<string, string>; tables: CsvTable[] } {
  const records = parseCsv(text);
  const blocks: string[][][] = [[]];
  for (const r of records) {
    if (r.length === 1 && r[0] === "") blocks.push([]);
    else blocks[blocks.length - 1]?.push(r);
  }
  const [head = [], ...sections] = blocks;
  const meta = new Map<string, string>();
  head.forEach((r, i) => {
    if (i === 0) meta.set("title", r[0] ?? "");
    else meta.set(r[0] ?? "", r[1] ?? "");
  });
  const tables = sections.map(([title, header, ...rows]) => ({
    title: title?.[0] ?? "",
    header: header ?? [],
    rows,
  }));
  return { meta, tables };
}

export interface XlsxSheet {
  name: string;
  /** Row by row, 1-based columns mapped to a 0-based array; empty cells are null. */
  rows: ExcelJS.CellValue[][];
  /** Each cell's number format (numFmt), laid out as `rows`; undefined: General. */
  formats: (string | undefined)[][];
  /** Cells that hold a formula (must be none). */
  formulas: string[];
}

export async function readXlsx(bytes: Uint8Array): Promise<XlsxSheet[]> {
  const workbook = new ExcelJS.Workbook();
  await workbook.xlsx.load(Buffer.from(bytes) as unknown as ArrayBuffer);
  return workbook.worksheets.map((sheet) => {
    const rows: ExcelJS.CellValue[][] = [];
    const formats: (string | undefined)[][] = [];
    const formulas: string[] = [];
    sheet.eachRow({ includeEmpty: true }, (row, rowNumber) => {
      const values: ExcelJS.CellValue[] = [];
      const numFmts: (string | undefined)[] = [];
      row.eachCell({ includeEmpty: true }, (cell, col) => {
        values[col - 1] = cell.value ?? null;
        numFmts[col - 1] = cell.numFmt || undefined;
        if (cell.type === ExcelJS.ValueType.Formula || cell.formula !== undefined)
          formulas.push(cell.address);
      });
      rows[rowNumber - 1] = Array.from(values, (v) => v ?? null);
      formats[rowNumber - 1] = Array.from(numFmts);
    });
    return {
      name: sheet.name,
      rows: Array.from(rows, (r) => r ?? []),
      formats: Array.from(formats, (f) => f ?? []),
      formulas,
    };
  });
}

async function withPdf<T>(bytes: Uint8Array, work: (file: string, dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "funnel-pdf-"));
  try {
    const file = join(dir, "in.pdf");
    await writeFile(file, bytes);
    return await work(file, dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The PDF's text, laid out as on the page (`pdftotext -layout`), pages split by form feeds. */
export function pdfText(bytes: Uint8Array): Promise<string> {
  return withPdf(bytes, async (file) => (await run("pdftotext", ["-layout", file, "-"])).stdout);
}

export interface Raster {
  width: number;
  height: number;
  /** Pixels per PDF point. */
  scale: number;
  /** RGBA bytes, row by row from the top left: for scans of whole pages. */
  data: Uint8Array;
  /** RGBA at pixel (x, y), origin top left. */
  pixel(x: number, y: number): { r: number; g: number; b: number };
}

/** Renders one page with `pdftoppm -png` at `scale` pixels per point and decodes it. */
export function rasterisePage(bytes: Uint8Array, page: number, scale = 2): Promise<Raster> {
  return withPdf(bytes, async (file, dir) => {
    const prefix = join(dir, "page");
    const dpi = String(72 * scale);
    await run("pdftoppm", [
      "-png",
      "-r",
      dpi,
      "-f",
      String(page),
      "-l",
      String(page),
      "-singlefile",
      file,
      prefix,
    ]);
    return decodePng(await readFile(`${prefix}.png`), scale);
  });
}

/**
 * Renders every page with `pdftoppm` at `scale` pixels per point, in page order. Raw PPM rather
 * than PNG: pages at high resolution are read without compressing and decompressing them.
 */
export function rasterisePages(bytes: Uint8Array, scale = 2): Promise<Raster[]> {
  return withPdf(bytes, async (file, dir) => {
    await run("pdftoppm", ["-r", String(72 * scale), file, join(dir, "page")]);
    const pages = (await readdir(dir))
      .filter((n) => n.startsWith("page") && n.endsWith(".ppm"))
      .sort((x, y) => Number(x.replace(/\D/g, "")) - Number(y.replace(/\D/g, "")));
    return Promise.all(pages.map(async (name) => decodePpm(await readFile(join(dir, name)), scale)));
  });
}

/** A binary PPM (P6, 8 bits per channel) as RGBA. */
function decodePpm(bytes: Buffer, scale: number): Raster {
  const header = /^P6\s+(\d+)\s+(\d+)\s+255\s/.exec(bytes.subarray(0, 64).toString("latin1"));
  if (!header) throw new Error("pdftoppm: not a binary PPM");
  const width = Number(header[1]);
  const height = Number(header[2]);
  const rgb = bytes.subarray(header[0].length);
  const data = new Uint8Array(width * height * 4);
  for (let i = 0, j = 0; i < rgb.length; i += 3, j += 4) {
    data[j] = rgb[i] ?? 0;
    data[j + 1] = rgb[i + 1] ?? 0;
    data[j + 2] = rgb[i + 2] ?? 0;
    data[j + 3] = 255;
  }
  return {
    width,
    height,
    scale,
    data,
    pixel(x, y) {
      const i = (width * y + x) * 4;
      return { r: data[i] ?? 0, g: data[i + 1] ?? 0, b: data[i + 2] ?? 0 };
    },
  };
}

function decodePng(bytes: Buffer, scale: number): Raster {
  const png = PNG.sync.read(bytes);
  return {
    width: png.width,
    height: png.height,
    scale,
    data: png.data,
    pixel(x, y) {
      const i = (png.width * y + x) * 4;
      return { r: png.data[i] ?? 0, g: png.data[i + 1] ?? 0, b: png.data[i + 2] ?? 0 };
    },
  };
}

/** Pixels of `raster` within `tolerance` (per channel) of `colour`, in the pixel box given. */
export function pixelsOf(
  raster: Raster,
  colour: { r: number; g: number; b: number },
  box: { x0: number; y0: number; x1: number; y1: number } = {
    x0: 0,
    y0: 0,
    x1: raster.width,
    y1: raster.height,
  },
  tolerance = 24,
): { x: number; y: number }[] {
  const found: { x: number; y: number }[] = [];
  for (let y = Math.max(0, box.y0); y < Math.min(raster.height, box.y1); y++) {
    for (let x = Math.max(0, box.x0); x < Math.min(raster.width, box.x1); x++) {
      const p = raster.pixel(x, y);
      if (
        Math.abs(p.r - colour.r) <= tolerance &&
        Math.abs(p.g - colour.g) <= tolerance &&
        Math.abs(p.b - colour.b) <= tolerance
      )
        found.push({ x, y });
    }
  }
  return found;
}

/** The pixel box of a PDF box (points, origin bottom left) on a page `pageHeight` points high. */
export function pixelBox(
  box: { x: number; y: number; width: number; height: number },
  pageHeight: number,
  scale: number,
): { x0: number; y0: number; x1: number; y1: number } {
  return {
    x0: Math.floor(box.x * scale),
    x1: Math.ceil((box.x + box.width) * scale),
    y0: Math.floor((pageHeight - box.y - box.height) * scale),
    y1: Math.ceil((pageHeight - box.y) * scale),
  };
}

/** The messages of a mail outbox folder, quoted-printable soft breaks and escapes decoded. */
export async function outboxMessages(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith(".eml")).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
  return Promise.all(
    names.map(async (n) =>
      (await readFile(join(dir, n), "utf8"))
        .replace(/=\r?\n/g, "")
        .replace(/=([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16))),
    ),
  );
}

type Json = Record<string, unknown>;
type ReportName = "overview" | "conversions" | "dropoffs" | "revenue";

/**
 * How an export labels and shows each field of a report's JSON, written out here as the reader
 * sees it (not taken from the renderers): the column's label, the JSON field it holds, and how it
 * is shown. `enum` is a fixed value shown as words ("form_submit" as "Form submit"); `csvOnly`
 * columns (step ids) are for programs, in the CSV only.
 */
export type ShownAs = "text" | "enum" | "integer" | "rate" | "money" | "date" | "datetime";
export interface ColumnSpec {
  label: string;
  field: string;
  as: ShownAs;
  csvOnly?: true;
}

const c = (label: string, field: string, as: ShownAs, csvOnly?: true): ColumnSpec =>
  csvOnly ? { label, field, as, csvOnly } : { label, field, as };
const stepColumn = c("Step", "step_name", "text");
const stepIdColumn = c("Step ID", "step_id", "text", true);

/**
 * One export table: its title, its rows read straight from the report route's JSON (keyed by the
 * JSON field names the columns name), and its columns in order.
 */
interface TableSpec {
  title: string;
  rows: (json: Json) => Json[];
  columns: ColumnSpec[];
}
const table = (title: string, rows: (json: Json) => Json[], columns: ColumnSpec[]): TableSpec => ({
  title,
  rows,
  columns,
});

/**
 * What a report's export holds: a summary of its headline figures (the JSON object `summary`
 * picks, flattened to dotted names; `metrics` are its rows in order), then `tables` in order. Each
 * table is written once here, its title next to where its rows come from and its columns.
 */
interface ReportSpec {
  summary: (json: Json) => Json;
  metrics: ColumnSpec[];
  tables: TableSpec[];
}

/** The rows of the JSON array a table is read from; none when the report leaves it out. */
const list =
  (key: string) =>
  (json: Json): Json[] =>
    (json[key] ?? []) as Json[];
const dropOffSteps = list("steps_with_drop_off");

const REPORTS: Record<ReportName, ReportSpec> = {
  overview: {
    summary: (json) => ({ visitors: json.visitors, conversions: json.conversions, revenue: json.revenue }),
    metrics: [
      c("Sessions", "visitors.total", "integer"),
      c("Unique visitors", "visitors.unique", "integer"),
      c("New visitors", "visitors.new", "integer"),
      c("Returning visitors", "visitors.returning", "integer"),
      c("Conversions", "conversions.total", "integer"),
      c("Conversion rate", "conversions.rate", "rate"),
      c("Conversion value", "conversions.value_cents", "money"),
      c("Revenue", "revenue.total_cents", "money"),
      c("Revenue per visitor", "revenue.per_visitor_cents", "money"),
      c("Revenue per conversion", "revenue.per_conversion_cents", "money"),
    ],
    tables: [
      table("Steps", list("steps"), [
        stepColumn,
        c("Type", "step_type", "enum"),
        c("Visitors", "visitors", "integer"),
        c("Entries", "entries", "integer"),
        c("Exits", "exits", "integer"),
        c("Drop-offs", "drop_offs", "integer"),
        c("Drop-off rate", "drop_off_rate", "rate"),
        c("Avg. time on step (s)", "avg_time_seconds", "integer"),
        c("Conversion rate", "conversion_rate", "rate"),
        stepIdColumn,
      ]),
    ],
  },
  conversions: {
    summary: (json) => json.summary as Json,
    metrics: [
      c("Conversions", "total_conversions", "integer"),
      c("Conversion rate", "conversion_rate", "rate"),
      c("Total value", "total_value_cents", "money"),
      c("Average value", "avg_value_cents", "money"),
    ],
    tables: [
      table("By type", list("by_type"), [
        c("Conversion type", "conversion_type", "enum"),
        c("Conversions", "count", "integer"),
        c("Rate", "rate", "rate"),
        c("Value", "value_cents", "money"),
      ]),
      table("By step", list("by_step"), [
        stepColumn,
        c("Conversions", "conversions", "integer"),
        c("Conversion rate", "conversion_rate", "rate"),
        stepIdColumn,
      ]),
      table("Over time", list("over_time"), [
        c("Day", "timestamp", "date"),
        c("Conversions", "conversions", "integer"),
        c("Conversion rate", "rate", "rate"),
        c("Value", "value_cents", "money"),
      ]),
      table("Converting visitors", list("converting_visitors"), [
        c("Visitor ID", "visitor_id", "text"),
        c("Session ID", "session_id", "text"),
        c("Conversions", "conversions", "integer"),
        c("Total value", "total_value_cents", "money"),
        c("First conversion", "first_conversion_at", "datetime"),
        c("Last conversion", "last_conversion_at", "datetime"),
      ]),
    ],
  },
  dropoffs: {
    summary: (json) => ({ overall_drop_off_rate: json.overall_drop_off_rate }),
    metrics: [c("Overall drop-off rate", "overall_drop_off_rate", "rate")],
    tables: [
      table("Drop-off funnel", list("drop_off_funnel"), [
        stepColumn,
        c("Visitors", "visitors", "integer"),
        c("Drop-offs", "drop_offs", "integer"),
        c("Cumulative drop-off rate", "cumulative_drop_off_rate", "rate"),
        stepIdColumn,
      ]),
      table("Steps with drop-off", dropOffSteps, [
        stepColumn,
        c("Drop-offs", "drop_offs", "integer"),
        c("Drop-off rate", "drop_off_rate", "rate"),
        c("Severity", "severity", "enum"),
        stepIdColumn,
      ]),
      // Each step's reasons, one row each, under the step's name.
      table(
        "Exit reasons",
        (json) =>
          dropOffSteps(json).flatMap((s) =>
            (s.common_exit_reasons as Json[]).map((r) => ({ step_name: s.step_name, ...r })),
          ),
        [
          stepColumn,
          c("Reason", "reason", "text"),
          c("Exits", "count", "integer"),
          c("Share", "percentage", "rate"),
        ],
      ),
      table(
        "Suggestions",
        (json) =>
          dropOffSteps(json).flatMap((s) =>
            (s.suggestions as string[]).map((suggestion) => ({ step_name: s.step_name, suggestion })),
          ),
        [stepColumn, c("Suggestion", "suggestion", "text")],
      ),
    ],
  },
  revenue: {
    summary: (json) => json.summary as Json,
    metrics: [
      c("Revenue", "total_revenue_cents", "money"),
      c("Revenue per visitor", "revenue_per_visitor_cents", "money"),
      c("Revenue per conversion", "revenue_per_conversion_cents", "money"),
      c("Refund rate", "refund_rate", "rate"),
      c("Net revenue", "net_revenue_cents", "money"),
    ],
    tables: [
      table("By source", list("by_source"), [
        c("Source", "source", "text"),
        c("Revenue", "revenue_cents", "money"),
        c("Share", "percentage", "rate"),
      ]),
      table("By step", list("by_step"), [
        stepColumn,
        c("Revenue", "revenue_cents", "money"),
        c("Orders", "orders", "integer"),
        c("Avg. order value", "avg_order_value_cents", "money"),
        stepIdColumn,
      ]),
      table("Over time", list("over_time"), [
        c("Day", "timestamp", "date"),
        c("Revenue", "revenue_cents", "money"),
        c("Orders", "orders", "integer"),
        c("Avg. order value", "avg_order_value_cents", "money"),
      ]),
      table("Top products", list("top_products"), [
        c("Product", "product_name", "text"),
        c("Product ID", "product_id", "text"),
        c("Revenue", "revenue_cents", "money"),
        c("Units sold", "units_sold", "integer"),
      ]),
    ],
  },
};

/** A JSON object's figures under dotted names ("visitors.total"), nested objects flattened. */
function flatten(root: Json, prefix = ""): [string, unknown][] {
  return Object.entries(root).flatMap(([key, value]) =>
    value !== null && typeof value === "object"
      ? flatten(value as Json, `${prefix}${key}.`)
      : [[`${prefix}${key}`, value] as [string, unknown]],
  );
}

/**
 * An export table as the report's JSON says it must read: its columns and, per row, each column's
 * JSON value. The summary is a Metric / Value table, one row per metric of the report's spec.
 */
export function expectedExportTables(
  report: ReportName,
  json: Json,
): { title: string; columns: ColumnSpec[]; rows: { spec: ColumnSpec; value: unknown }[][] }[] {
  const { summary, metrics, tables } = REPORTS[report];
  const figures = new Map(flatten(summary(json)));
  return [
    {
      title: "Summary",
      columns: [c("Metric", "metric", "text"), c("Value", "value", "integer")],
      rows: metrics.map((spec) => [
        { spec: c(spec.label, "metric", "text"), value: spec.label },
        { spec, value: figures.get(spec.field) },
      ]),
    },
    ...tables.map(({ title, rows, columns }) => ({
      title,
      columns,
      rows: rows(json).map((row) => columns.map((spec) => ({ spec, value: row[spec.field] }))),
    })),
  ];
}

/**
 * The characters a spreadsheet runs as a formula: OWASP's =, +, -, @, tab and CR, and the
 * full-width =, +, - and @, which Apple Numbers reads as the plain ones.
 */
const FORMULA_CHARS = ["=", "+", "-", "@", "\t", "\r", "\uFF1D", "\uFF0B", "\uFF0D", "\uFF20"];
const isFormulaChar = (ch: string | undefined) => ch !== undefined && FORMULA_CHARS.includes(ch);
const isLineStart = (text: string, i: number) => i === 0 || text[i - 1] === "\r" || text[i - 1] === "\n";

/** A text a spreadsheet would run as a formula. */
export const FORMULA_START = /^[=+\-@\t\r\uFF1D\uFF0B\uFF0D\uFF20]/;

/**
 * A text as the CSV must hold it, spelt out character by character: an apostrophe before a formula
 * character at the start of the text and at the start of every line inside it.
 */
export function csvText(text: string): string {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    if (isLineStart(text, i) && isFormulaChar(text[i])) out += "'";
    out += text[i];
  }
  return out;
}

/** Whether the text, or a line inside it (split at CR, LF or CRLF), starts with a formula character. */
export function startsFormula(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (isLineStart(text, i) && isFormulaChar(text[i])) return true;
  return false;
}

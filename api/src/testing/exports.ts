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
  /** Cells that hold a formula (must be none). */
  formulas: string[];
}

export async function readXlsx(bytes: Uint8Array): Promise<XlsxSheet[]> {
  const workbook = new ExcelJS.Workbook();
  await workbook.xlsx.load(Buffer.from(bytes) as unknown as ArrayBuffer);
  return workbook.worksheets.map((sheet) => {
    const rows: ExcelJS.CellValue[][] = [];
    const formulas: string[] = [];
    sheet.eachRow({ includeEmpty: true }, (row, rowNumber) => {
      const values: ExcelJS.CellValue[] = [];
      row.eachCell({ includeEmpty: true }, (cell, col) => {
        values[col - 1] = cell.value ?? null;
        if (cell.type === ExcelJS.ValueType.Formula || cell.formula !== undefined)
          formulas.push(cell.address);
      });
      rows[rowNumber - 1] = Array.from(values, (v) => v ?? null);
    });
    return { name: sheet.name, rows: Array.from(rows, (r) => r ?? []), formulas };
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
    const png = PNG.sync.read(await readFile(`${prefix}.png`));
    return {
      width: png.width,
      height: png.height,
      scale,
      pixel(x, y) {
        const i = (png.width * y + x) * 4;
        return { r: png.data[i] ?? 0, g: png.data[i + 1] ?? 0, b: png.data[i + 2] ?? 0 };
      },
    };
  });
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
 * What each export table must hold, read straight from a report route's JSON: the rows of the
 * array the table is named after, keyed by the JSON field names the export uses as column headers.
 * "Summary" is the report's headline figures, flattened to dotted names.
 */
export function reportTables(report: ReportName, json: Json): Map<string, Json[]> {
  const list = (key: string) => (json[key] ?? []) as Json[];
  const dropOffSteps = list("steps_with_drop_off");
  const tables: Record<ReportName, () => [string, Json[]][]> = {
    overview: () => [
      [
        "Summary",
        summaryRows({ visitors: json.visitors, conversions: json.conversions, revenue: json.revenue }),
      ],
      ["Steps", list("steps")],
    ],
    conversions: () => [
      ["Summary", summaryRows(json.summary as Json)],
      ["By type", list("by_type")],
      ["By step", list("by_step")],
      ["Over time", list("over_time")],
      ["Converting visitors", list("converting_visitors")],
    ],
    dropoffs: () => [
      ["Summary", summaryRows({ overall_drop_off_rate: json.overall_drop_off_rate })],
      ["Drop-off funnel", list("drop_off_funnel")],
      ["Steps with drop-off", dropOffSteps],
      [
        "Exit reasons",
        dropOffSteps.flatMap((s) =>
          (s.common_exit_reasons as Json[]).map((r) => ({ step_name: s.step_name, ...r })),
        ),
      ],
      [
        "Suggestions",
        dropOffSteps.flatMap((s) =>
          (s.suggestions as string[]).map((suggestion) => ({ step_name: s.step_name, suggestion })),
        ),
      ],
    ],
    revenue: () => [
      ["Summary", summaryRows(json.summary as Json)],
      ["By source", list("by_source")],
      ["By step", list("by_step")],
      ["Over time", list("over_time")],
      ["Top products", list("top_products")],
    ],
  };
  return new Map(tables[report]());
}

function summaryRows(root: Json, prefix = ""): Json[] {
  return Object.entries(root).flatMap(([key, value]) =>
    value !== null && typeof value === "object"
      ? summaryRows(value as Json, `${prefix}${key}.`)
      : [{ metric: `${prefix}${key}`, value }],
  );
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

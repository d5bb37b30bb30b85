import { type Database, queryRows } from "@funnel/db/client";
import { type SQL, sql } from "@funnel/db/orm";

/**
 * Which reads of account-owned tables name no account: every captured statement that mentions one
 * is planned again (EXPLAIN, with its own parameters bound again) on the same database, and each scan of such
 * a table (a partition or TimescaleDB chunk counts as its table) must have `account_id = <value>`
 * among the conditions ANDed at that scan. The planner has already followed the SQL through CTEs,
 * subqueries, joins and equalities (`c.account_id = t.account_id` with t's fixed gives c's), so the
 * check is about what the database reads, not how the statement is spelled.
 */

export interface CapturedStatement {
  query: string;
  params: unknown[];
}

/** Tables whose every row belongs to one account. */
export const ACCOUNT_TABLE = /^(analytics_events|event_ids|rejected_events|agg_[a-z0-9_]+)$/;
const MENTIONS_ACCOUNT_TABLE = /\b(analytics_events|event_ids|rejected_events|agg_[a-z0-9_]+)\b/;
/** Statements that read rows (DDL, SET and the like read none, and EXPLAIN takes none of them). */
const PLANNABLE = /^\s*\(?\s*(select|with|insert|update|delete)\b/i;

export interface UnkeyedRead {
  table: string;
  node: string;
  conditions: string[];
  query: string;
}

export interface PlanCheck {
  /** Statements planned (those naming an account-owned table), once each. */
  statements: number;
  /** Account-owned tables some plan scans. */
  tablesRead: Set<string>;
  unkeyed: UnkeyedRead[];
}

interface PlanNode {
  "Node Type": string;
  "Relation Name"?: string;
  "Index Cond"?: string;
  "Recheck Cond"?: string;
  Filter?: string;
  "TID Cond"?: string;
  Plans?: PlanNode[];
}

/** Nodes that hold scans of their table's parts rather than reading it themselves. */
const CONTAINERS = new Set(["ModifyTable", "Custom Scan", "Append", "Merge Append"]);

export async function checkAccountKeyedReads(
  db: Database,
  statements: CapturedStatement[],
): Promise<PlanCheck> {
  const roots = await tableRoots(db);
  const seen = new Set<string>();
  const result: PlanCheck = { statements: 0, tablesRead: new Set(), unkeyed: [] };
  for (const statement of statements) {
    if (!PLANNABLE.test(statement.query) || !MENTIONS_ACCOUNT_TABLE.test(statement.query)) continue;
    const key = `${statement.query}\u0000${JSON.stringify(statement.params)}`;
    if (seen.has(key)) continue;
    seen.add(key);
    result.statements++;
    const [row] = await queryRows<{ "QUERY PLAN": unknown }>(db, explain(statement));
    const output =
      typeof row?.["QUERY PLAN"] === "string" ? JSON.parse(row["QUERY PLAN"]) : row?.["QUERY PLAN"];
    const plan = (output as { Plan: PlanNode }[] | undefined)?.[0]?.Plan;
    if (!plan) throw new Error(`no plan for: ${statement.query.slice(0, 200)}`);
    for (const node of nodes(plan)) {
      const relation = node["Relation Name"];
      if (relation === undefined || CONTAINERS.has(node["Node Type"])) continue;
      const table = roots.get(relation) ?? relation;
      if (!ACCOUNT_TABLE.test(table)) continue;
      result.tablesRead.add(table);
      const conditions = [node["Index Cond"], node["Recheck Cond"], node.Filter, node["TID Cond"]].filter(
        (c): c is string => c !== undefined,
      );
      if (!conditions.some((c) => conjuncts(c).some(isAccountKey))) {
        result.unkeyed.push({ table, node: node["Node Type"], conditions, query: statement.query });
      }
    }
  }
  return result;
}

/** EXPLAIN of the statement with its own parameters, bound again in place of $1, $2, … */
function explain(statement: CapturedStatement): SQL {
  const pieces = statement.query.split(/\$(\d+)/);
  const chunks: SQL[] = [sql.raw("explain (format json) ")];
  for (const [i, piece] of pieces.entries()) {
    if (i % 2 === 0) chunks.push(sql.raw(piece));
    else chunks.push(sql`${sql.param(statement.params[Number(piece) - 1])}`);
  }
  return sql.join(chunks);
}

function* nodes(node: PlanNode): Generator<PlanNode> {
  yield node;
  for (const child of node.Plans ?? []) yield* nodes(child);
}

/** Each partition or chunk (by name) → the table at the top of its inheritance. */
async function tableRoots(db: Database): Promise<Map<string, string>> {
  const rows = await queryRows<{ name: string; root: string }>(
    db,
    sql`with recursive up(child, parent) as (
        select inhrelid, inhparent from pg_inherits
        union all
        select up.child, i.inhparent from up join pg_inherits i on i.inhrelid = up.parent
      )
      select c.relname as name, p.relname as root
      from up
      join pg_class c on c.oid = up.child
      join pg_class p on p.oid = up.parent
      where not exists (select 1 from pg_inherits i where i.inhrelid = up.parent)`,
  );
  return new Map(rows.map((r) => [r.name, r.root]));
}

/** `account_id` (of any alias) equal to a parameter or a constant. */
const ACCOUNT_KEY = [
  /^(?:\w+\.)?account_id = (?:\$\d+|'[^']*'::uuid|\(\$\d+\)::uuid)$/,
  /^(?:\$\d+|'[^']*'::uuid|\(\$\d+\)::uuid) = (?:\w+\.)?account_id$/,
];

export function isAccountKey(condition: string): boolean {
  const bare = unwrap(condition);
  return ACCOUNT_KEY.some((pattern) => pattern.test(bare));
}

/** The top-level AND terms of a plan condition: `((a) AND ((b) AND (c)))` → a, b, c. */
export function conjuncts(condition: string): string[] {
  const expression = unwrap(condition);
  const parts: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < expression.length; i++) {
    const ch = expression[i];
    if (ch === "'") quoted = !quoted;
    if (quoted) continue;
    if (ch === "(") depth++;
    else if (ch === ")") depth--;
    else if (depth === 0 && expression.startsWith(" AND ", i)) {
      parts.push(expression.slice(start, i));
      start = i + 5;
    }
  }
  if (parts.length === 0) return [expression];
  parts.push(expression.slice(start));
  return parts.flatMap(conjuncts);
}

/** Without the parentheses that enclose the whole expression. */
function unwrap(condition: string): string {
  let s = condition.trim();
  while (s.startsWith("(") && closingParen(s) === s.length - 1) s = s.slice(1, -1).trim();
  return s;
}

/** Index of the parenthesis that closes the one at 0 (quotes skipped); -1 when none. */
function closingParen(s: string): number {
  let depth = 0;
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (ch === "'") quoted = !quoted;
    if (quoted) continue;
    if (ch === "(") depth++;
    else if (ch === ")") {
      depth--;
      if (depth === 0) return i;
    }
  }
  return -1;
}

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
  Alias?: string;
  "Join Type"?: string;
  "Hash Cond"?: string;
  "Merge Cond"?: string;
  "Join Filter"?: string;
  "Index Cond"?: string;
  "Recheck Cond"?: string;
  Filter?: string;
  "TID Cond"?: string;
  Plans?: PlanNode[];
}

/** Nodes that hold scans of their table's parts rather than reading it themselves. */
const CONTAINERS = new Set(["ModifyTable", "Custom Scan", "Append", "Merge Append"]);

export interface PlanCheckOptions {
  /** The tables checked (default: every account-owned table). */
  tables?: RegExp;
  /**
   * Also take a scan as keyed when its account_id equals another relation's (`t.account_id =
   * k.account_id`, or the `id` of an accounts row): a write of several accounts' rows at once
   * keys each row by its own account, not by one value.
   */
  joins?: boolean;
}

export async function checkAccountKeyedReads(
  db: Database,
  statements: CapturedStatement[],
  options: PlanCheckOptions = {},
): Promise<PlanCheck> {
  const tables = options.tables ?? ACCOUNT_TABLE;
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
    const joined = options.joins ? joinKeyedAliases(plan, roots) : new Set<string>();
    for (const node of nodes(plan)) {
      const relation = node["Relation Name"];
      if (relation === undefined || CONTAINERS.has(node["Node Type"])) continue;
      const table = roots.get(relation) ?? relation;
      if (!tables.test(table)) continue;
      result.tablesRead.add(table);
      const conditions = scanConditions(node);
      if (node.Alias !== undefined && joined.has(node.Alias)) continue;
      if (!conditions.some((c) => conjuncts(c).some(isAccountKey))) {
        result.unkeyed.push({ table, node: node["Node Type"], conditions, query: statement.query });
      }
    }
  }
  return result;
}

function scanConditions(node: PlanNode): string[] {
  return [node["Index Cond"], node["Recheck Cond"], node.Filter, node["TID Cond"]].filter(
    (c): c is string => c !== undefined,
  );
}

/** `a.account_id = b.account_id` or `a.account_id = b.id` (either way round; an alias may be left out). */
const ACCOUNT_EQUALITY = /^(?:(\w+)\.)?(account_id|id) = (?:(\w+)\.)?(account_id|id)$/;

/**
 * The aliases whose rows a plan holds to another relation's account: an equality of their
 * account_id with another alias's account_id (or with an accounts row's id) among the ANDed
 * conditions of a scan or of a join that does not keep them unmatched (the preserved side of an
 * outer join, or the outer side of an anti join, is not held by the join's condition).
 */
function joinKeyedAliases(plan: PlanNode, roots: Map<string, string>): Set<string> {
  const accountsAliases = new Set<string>();
  for (const node of nodes(plan)) {
    const relation = node["Relation Name"];
    if (
      relation !== undefined &&
      node.Alias !== undefined &&
      (roots.get(relation) ?? relation) === "accounts"
    ) {
      accountsAliases.add(node.Alias);
    }
  }
  const keyed = new Set<string>();
  /** The aliases an equality ties by account, `own` standing for an alias left out. */
  const tied = (condition: string, own: string | undefined): [string, string][] => {
    const pairs: [string, string][] = [];
    for (const term of conjuncts(condition)) {
      const match = ACCOUNT_EQUALITY.exec(unwrap(term));
      if (!match) continue;
      const [, leftAlias, leftColumn, rightAlias, rightColumn] = match;
      const left = leftAlias ?? own;
      const right = rightAlias ?? own;
      if (left === undefined || right === undefined || left === right) continue;
      const isAccount = (alias: string, column: string | undefined) =>
        column === "account_id" || (column === "id" && accountsAliases.has(alias));
      if (!isAccount(left, leftColumn) || !isAccount(right, rightColumn)) continue;
      pairs.push([left, right]);
    }
    return pairs;
  };
  const visit = (node: PlanNode, innerOf: string | undefined) => {
    const children = node.Plans ?? [];
    const join = node["Join Type"];
    // Which children's rows a join's condition holds: an outer join keeps its preserved side.
    const held = (i: number) =>
      join === undefined || join === "Inner" || join === "Semi"
        ? true
        : join === "Left" || join === "Anti"
          ? i === 1
          : join === "Right"
            ? i === 0
            : false;
    if (join !== undefined) {
      for (const condition of [node["Hash Cond"], node["Merge Cond"], node["Join Filter"]]) {
        if (condition === undefined) continue;
        for (const pair of tied(condition, undefined)) {
          for (const [i, child] of children.entries()) {
            if (!held(i)) continue;
            const inChild = new Set([...nodes(child)].map((n) => n.Alias).filter((a) => a !== undefined));
            for (const alias of pair) if (inChild.has(alias)) keyed.add(alias);
          }
        }
      }
    }
    if (node["Relation Name"] !== undefined && node.Alias !== undefined) {
      // A scan's own condition holds its rows, and, as the inner side of an inner or semi nested
      // loop, the outer rows it is matched with.
      for (const condition of scanConditions(node)) {
        for (const [left, right] of tied(condition, node.Alias)) {
          if (left !== node.Alias && right !== node.Alias) continue;
          keyed.add(node.Alias);
          if (innerOf === "Inner" || innerOf === "Semi") keyed.add(left === node.Alias ? right : left);
        }
      }
    }
    for (const [i, child] of children.entries()) {
      visit(child, join !== undefined && i === 1 ? join : join !== undefined ? undefined : innerOf);
    }
  };
  visit(plan, undefined);
  return keyed;
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

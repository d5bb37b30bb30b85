/**
 * What PostgreSQL can store. A NUL character (U+0000) in `text` or `jsonb`, or half of a UTF-16
 * surrogate pair in `jsonb`, makes it refuse the whole statement, so one such string would lose
 * every event written with it. Events carrying them are refused at accept time, field by field;
 * refused payloads kept for operators are cleaned with `toStorableJson`.
 */

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const LONE_SURROGATES = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

export const UNSTORABLE_TEXT_MESSAGE = "must not contain NUL or unpaired surrogate characters";

export function isStorableText(value: string): boolean {
  return !value.includes("\u0000") && !LONE_SURROGATE.test(value);
}

/**
 * True when `value` nests arrays and objects more than `maxDepth` levels deep (a scalar is 0, `{}`
 * is 1). Iterative, so a hostile value cannot exhaust the stack the way JSON.stringify would.
 */
export function nestsDeeperThan(value: unknown, maxDepth: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop() ?? [null, 0];
    if (node === null || typeof node !== "object") continue;
    if (depth + 1 > maxDepth) return true;
    for (const child of Object.values(node)) stack.push([child, depth + 1]);
  }
  return false;
}

/** Whether a key or string anywhere inside `value` is one PostgreSQL cannot store. */
export function hasUnstorableText(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const node = stack.pop();
    if (typeof node === "string") {
      if (!isStorableText(node)) return true;
    } else if (node !== null && typeof node === "object") {
      for (const [key, child] of Object.entries(node)) {
        if (!isStorableText(key)) return true;
        stack.push(child);
      }
    }
  }
  return false;
}

/** A copy of a parsed JSON value (same shape) with NUL and unpaired surrogates replaced by U+FFFD. */
export function toStorableJson<T>(value: T): T {
  return storable(value) as T;
}

function storable(value: unknown): unknown {
  if (typeof value === "string") return storableText(value);
  if (Array.isArray(value)) return value.map(storable);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [storableText(k), storable(v)]));
  }
  return value;
}

function storableText(value: string): string {
  return isStorableText(value)
    ? value
    : value.replaceAll("\u0000", "\ufffd").replace(LONE_SURROGATES, "\ufffd");
}

/** What a database error means for a write that may be tried again (the ingest writer, the deriver). */

/** The SQLSTATE codes in an error and its causes. */
function* sqlStates(error: unknown): Generator<string> {
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") yield code;
  }
}

/** SQLSTATE class 22 (data exception) and NOT NULL violations: the same rows would fail the same way. */
export function isDataError(error: unknown): boolean {
  for (const code of sqlStates(error)) if (code.startsWith("22") || code === "23502") return true;
  return false;
}

/** SQLSTATE 53200: the transaction took more locks than the server's lock table holds; fewer rows fit. */
export function isOutOfLocks(error: unknown): boolean {
  for (const code of sqlStates(error)) if (code === "53200") return true;
  return false;
}

/** The innermost message of an error. */
export function messageOf(error: unknown): string {
  let e: unknown = error;
  while (e instanceof Error && e.cause instanceof Error) e = e.cause;
  return e instanceof Error ? e.message : String(e);
}

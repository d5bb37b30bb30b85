/**
 * Whether `error` says Redis cannot be reached right now: ioredis gave up on a command after its
 * retries (`MaxRetriesPerRequestError`) or its deadline, the connection is closed, or the socket
 * was refused or reset. Worth a retry later, unlike a script or type error.
 */
export function isRedisUnavailable(error: unknown): boolean {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e.name === "MaxRetriesPerRequestError" || e.message === "Connection is closed.") return true;
    // REDIS_COMMAND_TIMEOUT_MS ran out: Redis is stalled (paused, swapping, a slow script).
    if (e.message === "Command timed out") return true;
    const code = (e as { code?: unknown }).code;
    if (code === "ECONNREFUSED" || code === "ECONNRESET" || code === "EPIPE") return true;
  }
  return false;
}

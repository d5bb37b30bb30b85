/**
 * Shared helpers for API tests: real dependencies on a fresh test database, accounts with keys,
 * and the security cases every keyed route runs.
 */
export { type AccountOptions, type AccountWithKey, createAccountWithKey, createRevokedKey } from "./accounts";
export { type AuthCaseOptions, type AuthCaseRequest, describeAuthCases } from "./auth-cases";
export {
  type AbTestBody,
  abTestBody,
  type FunnelBody,
  funnelBody,
  newAbTestBody,
  newFunnelBody,
  putAbTestRequest,
  putFunnelRequest,
  seedAbTest,
  seedFunnel,
} from "./catalog";
export { createTestApp, makeTestDeps, type TestApp, type TestDeps, type TestDepsOptions } from "./deps";
export { type EventPipeline, startEventPipeline, storedRawEvents } from "./events";
export { figuresOf } from "./reports";
export {
  rowsContaining,
  type StoredEventRow,
  storedEventRows,
  storedRejectedPayloads,
  tablesWithColumn,
} from "./stored-rows";

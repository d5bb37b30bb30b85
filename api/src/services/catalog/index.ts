/** The catalog the funnel builder pushes: one function per verb, each `(ctx, scope, input)`. */
export { createAbTest, type NewAbTestInput } from "./create-ab-test";
export { createFunnel, type NewFunnelInput } from "./create-funnel";
export { deleteAbTest } from "./delete-ab-test";
export { deleteFunnel } from "./delete-funnel";
export { getAbTest } from "./get-ab-test";
export { getFunnel } from "./get-funnel";
export { listAbTests } from "./list-ab-tests";
export { listFunnels } from "./list-funnels";
export { type AbTestInput, putAbTest } from "./put-ab-test";
export { type FunnelInput, putFunnel } from "./put-funnel";
export * from "./views";

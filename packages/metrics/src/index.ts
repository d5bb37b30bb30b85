/**
 * Metric definitions shared by the report services and their tests: one definition per metric
 * (METRICS.md), pure functions that know nothing of HTTP or SQL.
 */
export * from "./ab-test";
export * from "./buckets";
export * from "./distributions";
export * from "./drop-off-insights";
export * from "./journey";
export * from "./period";
export * from "./rounding";
export * from "./significance";

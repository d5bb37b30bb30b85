export * from "./ab-tests";
export * from "./accounts";
export * from "./aggregates";
export * from "./catalog-ids";
export { NO_STEP } from "./columns";
export * from "./events";
export * from "./exports";
export * from "./funnels";
export * from "./privacy";

export * from "./browser";
export * from "./schema";
export * from "./storable";
export * from "./validate";

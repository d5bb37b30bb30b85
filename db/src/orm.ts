export * from "drizzle-orm";

import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import type { AppEnv } from "../deps";
import { toErrorResponse } from "./errors";

/** A route that throws `error`, answered by the app's error mapper. */
async function answerTo(error: unknown): Promise<{ status: number; code: string }> {
  const app = new Hono<AppEnv>();
  app.get("/", () => {
    throw error;
  });
  app.onError((e, c) => toErrorResponse(c, e));
  const res = await app.request("/");
  const body = (await res.json()) as { error: { code: string } };
  return { status: res.status, code: body.error.code };
}

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

describe("outages of the database or Redis", () => {
  it.each([
    ["postgres.js connection closed", withCode("write CONNECTION_CLOSED", "CONNECTION_CLOSED")],
    ["connection refused", withCode("connect ECONNREFUSED 127.0.0.1:5432", "ECONNREFUSED")],
    [
      "server shutting down (57P01)",
      withCode("terminating connection due to administrator command", "57P01"),
    ],
    ["server starting up (57P03)", withCode("the database system is starting up", "57P03")],
    [
      "wrapped by the ORM",
      new Error("Failed query", { cause: withCode("the database system is shutting down", "57P03") }),
    ],
    [
      "ioredis giving up on a command",
      Object.defineProperty(new Error("Reached the max retries per request limit"), "name", {
        value: "MaxRetriesPerRequestError",
      }),
    ],
    ["ioredis connection closed", new Error("Connection is closed.")],
  ])("%s is a 503 a client retries, not a 500", async (_, error) => {
    expect(await answerTo(error)).toEqual({ status: 503, code: "UNAVAILABLE" });
  });

  it("any other error is still a 500", async () => {
    expect(await answerTo(withCode("syntax error", "42601"))).toEqual({ status: 500, code: "INTERNAL" });
    expect(await answerTo(new TypeError("x is undefined"))).toEqual({ status: 500, code: "INTERNAL" });
  });
});

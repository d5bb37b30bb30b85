import { expect } from "vitest";

/**
 * A report's figures, for comparing with the reference: everything but `data_through`, which says
 * how fresh the report is rather than what happened (checked here to be a time, or null before any
 * event; services/analytics/reports/data-through.test.ts checks what it means).
 */
export function figuresOf(body: Record<string, unknown>): Record<string, unknown> {
  const { data_through: through, ...figures } = body;
  expect("data_through" in body, "a report states data_through").toBe(true);
  if (through !== null) expect(Number.isNaN(Date.parse(String(through))), String(through)).toBe(false);
  return figures;
}

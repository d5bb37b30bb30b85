import type { FieldError } from "@funnel/events";

/**
 * Checks on a catalog write that the request schema cannot express. Each returns the field errors
 * it finds, named like zod names them (`steps.2.position`), so a client sees one format.
 */

/** Every repeat of a value after its first occurrence, as an error on that item's field. */
export function repeated<T>(items: T[], list: string, field: keyof T & string): FieldError[] {
  const seen = new Set<unknown>();
  const errors: FieldError[] = [];
  items.forEach((item, index) => {
    const value = item[field];
    if (seen.has(value)) errors.push({ field: `${list}.${index}.${field}`, message: `${field} is repeated` });
    seen.add(value);
  });
  return errors;
}

export interface VariantRules {
  is_control: boolean;
  traffic_split: number;
}

/** A test has exactly one control, and its traffic splits are whole percentages summing to 100. */
export function variantErrors(variants: VariantRules[]): FieldError[] {
  const errors: FieldError[] = [];
  const controls = variants.filter((v) => v.is_control).length;
  if (controls !== 1) {
    errors.push({
      field: "variants",
      message: `exactly one variant must be the control (found ${controls})`,
    });
  }
  variants.forEach((v, index) => {
    if (!Number.isInteger(v.traffic_split) || v.traffic_split < 0 || v.traffic_split > 100) {
      errors.push({ field: `variants.${index}.traffic_split`, message: "must be an integer from 0 to 100" });
    }
  });
  const total = variants.reduce((sum, v) => sum + v.traffic_split, 0);
  if (total !== 100) {
    errors.push({ field: "variants", message: `traffic_split must sum to 100 (sums to ${total})` });
  }
  return errors;
}

/** The ids a refused write names, as errors on the fields that carry them. */
export function idErrors(
  list: string,
  items: { id: string }[],
  ids: string[],
  message: string,
  field = "id",
): FieldError[] {
  const named = new Set(ids);
  return items.flatMap((item, index) =>
    named.has(item.id) ? [{ field: `${list}.${index}.${field}`, message }] : [],
  );
}

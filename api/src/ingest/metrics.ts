import { Counter, type Registry } from "prom-client";

const NAME = "funnel_ingest_events_total";

/** Events accepted and refused at the API's door, by source; created once per registry. */
export function countIngested(registry: Registry, source: string, accepted: number, rejected: number): void {
  const counter =
    (registry.getSingleMetric(NAME) as Counter<"source" | "outcome"> | undefined) ??
    new Counter({
      name: NAME,
      help: "Events received by the ingest routes, by source and outcome (accepted or rejected)",
      labelNames: ["source", "outcome"],
      registers: [registry],
    });
  if (accepted > 0) counter.inc({ source, outcome: "accepted" }, accepted);
  if (rejected > 0) counter.inc({ source, outcome: "rejected" }, rejected);
}

import { useReport } from "../api.js";
import { Empty, html, ReportState, Table } from "../components.js";
import { change, count, dateTime, money, percent } from "../format.js";

function SampleRatio({ check }) {
  if (!check) return null;
  return check.detected
    ? html`<p class="notice warning" role="alert" data-field="sample_ratio_mismatch">
        <strong>Sample ratio mismatch.</strong> The visitors are not split between the variants as the
        test says (chi-square ${count(check.chi_square)}, p = ${check.p_value.toPrecision(3)}, below
        ${check.threshold}): the results may not be trusted until the cause is found.
      </p>`
    : html`<p class="muted" data-field="sample_ratio_mismatch">
        Traffic split as configured (sample ratio check: p = ${check.p_value.toPrecision(3)}).
      </p>`;
}

export function AbTestsView({ client, funnel, range, timeZone }) {
  const report = useReport(client, `/api/v1/analytics/funnels/${funnel.id}/ab-tests`, {
    ...range,
    tz: timeZone,
  });
  return html`<div data-view="ab-tests">
    <h2 class="view-title">A/B tests of ${funnel.name}</h2>
    <${ReportState} report=${report} what="the A/B tests">
      ${(data) =>
        data.tests.length === 0
          ? html`<${Empty}>This funnel has no A/B test.<//>`
          : data.tests.map((test) => {
              const winner = test.variants.find((v) => v.variant_id === test.winner?.variant_id);
              return html`<section class="card" aria-labelledby=${`test-${test.test_id}`} data-test=${test.test_id}>
                <h2 id=${`test-${test.test_id}`}>${test.test_name} <span class="badge">${test.status}</span></h2>
                <p class="muted">
                  Started ${dateTime(test.started_at, timeZone)}${test.completed_at ? `, completed ${dateTime(test.completed_at, timeZone)}` : ""}.
                </p>
                ${
                  winner
                    ? html`<div class="notice winner" data-field="winner">
                        <strong>Winner: ${winner.variant_name}</strong>
                        <p data-field="winner.reason">${test.winner.reason}</p>
                      </div>`
                    : html`<div class="notice" data-field="winner">
                        <strong>No winner yet</strong>
                        <p data-field="conclusion">${test.conclusion ?? test.winner?.reason ?? ""}</p>
                      </div>`
                }
                <${SampleRatio} check=${test.sample_ratio_mismatch} />
                <${Table}
                  caption="Variants"
                  name="variants"
                  rows=${test.variants}
                  rowKey=${(v) => v.variant_id}
                  columns=${[
                    {
                      label: "Variant",
                      field: "variant_name",
                      value: (v) => `${v.variant_name}${v.is_control ? " (control)" : ""}`,
                    },
                    {
                      label: "Split",
                      field: "traffic_split",
                      numeric: true,
                      value: (v) => `${count(v.traffic_split)} %`,
                    },
                    { label: "Visitors", field: "visitors", numeric: true, value: (v) => count(v.visitors) },
                    {
                      label: "Conversions",
                      field: "conversions",
                      numeric: true,
                      value: (v) => count(v.conversions),
                    },
                    {
                      label: "Conversion rate",
                      field: "conversion_rate",
                      numeric: true,
                      value: (v) => percent(v.conversion_rate),
                    },
                    {
                      label: "Improvement",
                      field: "improvement_vs_control",
                      numeric: true,
                      value: (v) => change(v.improvement_vs_control),
                    },
                    {
                      label: "Confidence",
                      field: "confidence",
                      numeric: true,
                      value: (v) => percent(v.confidence),
                    },
                    {
                      label: "Revenue",
                      field: "revenue_cents",
                      numeric: true,
                      value: (v) => money(v.revenue_cents),
                    },
                    {
                      label: "Revenue per visitor",
                      field: "avg_revenue_per_visitor_cents",
                      numeric: true,
                      value: (v) => money(v.avg_revenue_per_visitor_cents),
                    },
                  ]}
                />
              </section>`;
            })}
    <//>
  </div>`;
}

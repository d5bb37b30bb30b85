import { useReport } from "../api.js";
import { BarChart, countSeries, TimeChart } from "../charts.js";
import { Figures, Freshness, html, ReportState, Section, Table } from "../components.js";
import { count, duration, percent } from "../format.js";

const shares = (label, field) => [
  { label, field, value: (r) => r[field] },
  { label: "Visitors", field: "visitors", numeric: true, value: (r) => count(r.visitors) },
  { label: "Share", field: "percentage", numeric: true, value: (r) => percent(r.percentage) },
];

function Shares({ title, rows, field, label, name }) {
  return html`<${BarChart}
    title=${title}
    name=${name}
    rows=${rows}
    label=${(r) => r[field]}
    value=${(r) => r.visitors}
    text=${(r) => `${count(r.visitors)} (${percent(r.percentage)})`}
    columns=${shares(label, field)}
  />`;
}

export function StepView({ client, funnel, range, timeZone, granularity, argument }) {
  const steps = [...funnel.steps].sort((a, b) => a.position - b.position);
  const step = steps.find((s) => s.id === argument) ?? steps[0];
  const stepName = (id) => steps.find((s) => s.id === id)?.name ?? id;
  const report = useReport(client, `/api/v1/analytics/funnels/${funnel.id}/steps/${step.id}`, {
    ...range,
    tz: timeZone,
    granularity,
  });
  return html`<div data-view="step">
    <h2 class="view-title">Step detail: ${step.name}</h2>
    <nav aria-label="Steps" class="sub-nav">
      <ul>
        ${steps.map(
          (s) => html`<li>
            <a href=${`#/steps/${s.id}`} aria-current=${s.id === step.id ? "page" : undefined}>${s.position}. ${s.name}</a>
          </li>`,
        )}
      </ul>
    </nav>
    <${ReportState} report=${report} what="the step">
      ${(data) => html`
        <${Freshness} through=${data.data_through} timeZone=${timeZone} />
        <${Figures} items=${[
          { label: "Visitors", field: "summary.visitors", value: count(data.summary.visitors) },
          {
            label: "Unique visitors",
            field: "summary.unique_visitors",
            value: count(data.summary.unique_visitors),
          },
          { label: "Entries", field: "summary.entries", value: count(data.summary.entries) },
          { label: "Exits", field: "summary.exits", value: count(data.summary.exits) },
          { label: "Drop-offs", field: "summary.drop_offs", value: count(data.summary.drop_offs) },
          {
            label: "Drop-off rate",
            field: "summary.drop_off_rate",
            value: percent(data.summary.drop_off_rate),
          },
          {
            label: "Average time",
            field: "summary.avg_time_seconds",
            value: duration(data.summary.avg_time_seconds),
          },
          {
            label: "Median time",
            field: "summary.median_time_seconds",
            value: duration(data.summary.median_time_seconds),
          },
          {
            label: "Conversion rate",
            field: "summary.conversion_rate",
            value: percent(data.summary.conversion_rate),
          },
        ]} />
        <${Section} title="Over time" id="step-over-time">
          <${TimeChart}
            title="Visitors and entries over time"
            name="step-over-time"
            rows=${data.over_time}
            timeZone=${timeZone}
            granularity=${data.granularity}
            series=${[countSeries("visitors", "Visitors"), countSeries("entries", "Entries")]}
          />
        <//>
        <div class="grid">
          <${Section} title="Devices" id="devices">
            <${Shares} title="Visitors by device" name="devices" rows=${data.devices} field="device_type" label="Device" />
          <//>
          <${Section} title="Browsers" id="browsers">
            <${Shares} title="Visitors by browser" name="browsers" rows=${data.browsers} field="browser" label="Browser" />
          <//>
          <${Section} title="Sources" id="sources">
            <${Shares} title="Visitors by source" name="sources" rows=${data.traffic_sources} field="source" label="Source" />
          <//>
        </div>
        <div class="grid">
          <${Section} title="Entry paths" id="entry-paths">
            <${Table}
              caption="Where entries to this step came from"
              name="entry-paths"
              rows=${data.entry_paths}
              columns=${[
                {
                  label: "From",
                  field: "previous_step_id",
                  value: (p) => (p.previous_step_id ? stepName(p.previous_step_id) : "Direct entry"),
                },
                { label: "Entries", field: "count", numeric: true, value: (p) => count(p.count) },
              ]}
            />
          <//>
          <${Section} title="Exit paths" id="exit-paths">
            <${Table}
              caption="Where exits from this step went"
              name="exit-paths"
              rows=${data.exit_paths}
              columns=${[
                {
                  label: "To",
                  field: "next_step_id",
                  value: (p) => (p.next_step_id ? stepName(p.next_step_id) : "Left the funnel"),
                },
                { label: "Exits", field: "count", numeric: true, value: (p) => count(p.count) },
              ]}
            />
          <//>
        </div>
      `}
    <//>
  </div>`;
}

import { useReport } from "../api.js";
import { countSeries, moneySeries, StepVisitorsChart, TimeChart } from "../charts.js";
import { Empty, Figures, Freshness, html, ReportState, Section, Table } from "../components.js";
import { count, duration, money, percent } from "../format.js";

export function OverviewView({ client, funnel, range, timeZone, granularity }) {
  const params = { ...range, tz: timeZone };
  const overview = useReport(client, `/api/v1/analytics/funnels/${funnel.id}/overview`, params);
  const trend = useReport(client, `/api/v1/analytics/funnels/${funnel.id}/conversions`, {
    ...params,
    granularity,
    page_size: 1,
  });
  return html`<div data-view="overview">
    <h2 class="view-title">Overview of ${funnel.name}</h2>
    <${ReportState} report=${overview} what="the overview">
      ${(data) => html`
        <${Freshness} through=${data.data_through} timeZone=${timeZone} />
        ${data.visitors.total === 0 ? html`<${Empty}>No visitors in this period: try a longer one.<//>` : null}
        <${Figures} items=${[
          { label: "Unique visitors", field: "visitors.unique", value: count(data.visitors.unique) },
          { label: "Visits", field: "visitors.total", value: count(data.visitors.total) },
          { label: "New visitors", field: "visitors.new", value: count(data.visitors.new) },
          { label: "Returning visitors", field: "visitors.returning", value: count(data.visitors.returning) },
          { label: "Conversions", field: "conversions.total", value: count(data.conversions.total) },
          { label: "Conversion rate", field: "conversions.rate", value: percent(data.conversions.rate) },
          { label: "Revenue", field: "revenue.total_cents", value: money(data.revenue.total_cents) },
          {
            label: "Revenue per visitor",
            field: "revenue.per_visitor_cents",
            value: money(data.revenue.per_visitor_cents),
          },
          {
            label: "Revenue per conversion",
            field: "revenue.per_conversion_cents",
            value: money(data.revenue.per_conversion_cents),
          },
        ]} />
        <${Section} title="Visitors per step" id="funnel-chart">
          <${StepVisitorsChart} title="Unique visitors reaching each step" name="funnel" rows=${data.steps} />
        <//>
        <${Section} title="Steps" id="steps-table">
          <${Table}
            caption="Every step of the funnel in this period"
            hiddenCaption=${true}
            name="steps"
            rows=${data.steps}
            rowKey=${(s) => s.step_id}
            columns=${[
              {
                label: "Step",
                field: "step_name",
                value: (s) => html`<a href=${`#/steps/${s.step_id}`}>${s.step_name}</a>`,
              },
              { label: "Type", field: "step_type", value: (s) => s.step_type },
              { label: "Visitors", field: "visitors", numeric: true, value: (s) => count(s.visitors) },
              { label: "Entries", field: "entries", numeric: true, value: (s) => count(s.entries) },
              { label: "Exits", field: "exits", numeric: true, value: (s) => count(s.exits) },
              { label: "Drop-offs", field: "drop_offs", numeric: true, value: (s) => count(s.drop_offs) },
              {
                label: "Drop-off rate",
                field: "drop_off_rate",
                numeric: true,
                value: (s) => percent(s.drop_off_rate),
              },
              {
                label: "Average time",
                field: "avg_time_seconds",
                numeric: true,
                value: (s) => duration(s.avg_time_seconds),
              },
              {
                label: "Conversion rate",
                field: "conversion_rate",
                numeric: true,
                value: (s) => percent(s.conversion_rate),
              },
            ]}
          />
        <//>
      `}
    <//>
    <${Section} title="Over time" id="over-time">
      <${ReportState} report=${trend} what="conversions over time">
        ${(data) => html`<${TimeChart}
          title="Conversions and their value over time"
          name="over-time"
          rows=${data.over_time}
          timeZone=${timeZone}
          granularity=${data.granularity}
          series=${[countSeries("conversions", "Conversions"), moneySeries("value_cents", "Value", "money")]}
        />`}
      <//>
    <//>
  </div>`;
}

import { useEffect, useState } from "preact/hooks";
import { ErrorNotice, html } from "../components.js";
import { dateTime, percent } from "../format.js";

const REPORTS = [
  { value: "overview", label: "Overview" },
  { value: "conversions", label: "Conversions" },
  { value: "dropoffs", label: "Drop-offs" },
  { value: "revenue", label: "Revenue" },
];
const FORMATS = ["csv", "xlsx", "pdf"];
const STATUS = { queued: "Queued", processing: "Being prepared", completed: "Ready", failed: "Failed" };

/** One export job, asked about every second until it is ready or has failed. */
function Job({ client, job: started, timeZone }) {
  const [job, setJob] = useState(started);
  const [error, setError] = useState();
  useEffect(() => {
    let stopped = false;
    let timer;
    const poll = () =>
      client.get(`/api/v1/analytics/export/${started.job_id}`).then(
        (current) => {
          if (stopped) return;
          setJob(current);
          setError(undefined);
          if (current.status !== "completed" && current.status !== "failed") timer = setTimeout(poll, 1_000);
        },
        (failure) => {
          if (stopped) return;
          setError(failure);
          timer = setTimeout(poll, 3_000);
        },
      );
    poll();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [client, started.job_id]);
  return html`<li class="job" data-job=${job.job_id} data-status=${job.status}>
    <span>${REPORTS.find((r) => r.value === job.report_type)?.label ?? job.report_type} · ${job.format.toUpperCase()}</span>
    <span role="status">${STATUS[job.status] ?? job.status}${job.status === "processing" ? ` (${percent(job.progress)})` : ""}</span>
    ${
      job.status === "completed" && job.download_url
        ? html`<a href=${job.download_url} download>Download ${job.format.toUpperCase()}</a>
            <span class="muted">until ${dateTime(job.expires_at, timeZone)}</span>`
        : null
    }
    ${job.status === "failed" ? html`<span class="error-text">${job.error ?? "The export failed."}</span>` : null}
    ${error ? html`<${ErrorNotice} error=${error} />` : null}
  </li>`;
}

export function ExportView({ client, funnel, range, timeZone, granularity }) {
  const [reportType, setReportType] = useState("overview");
  const [jobs, setJobs] = useState([]);
  const [state, setState] = useState({});
  async function start(format) {
    setState({ sending: format });
    try {
      const accepted = await client.post("/api/v1/analytics/export", {
        funnel_id: funnel.id,
        report_type: reportType,
        ...range,
        tz: timeZone,
        granularity,
        format,
        ...(format === "pdf" ? { include_charts: true } : {}),
      });
      setJobs((previous) => [
        { ...accepted, report_type: reportType, format, progress: 0, status: "queued" },
        ...previous,
      ]);
      setState({});
    } catch (error) {
      setState({ error });
    }
  }
  return html`<div data-view="export">
    <h2 class="view-title">Export ${funnel.name}</h2>
    <p class="muted">The chosen period and time zone; files are kept for 24 hours.</p>
    <div class="export-form">
      <label>Report
        <select name="report_type" value=${reportType} onChange=${(e) => setReportType(e.currentTarget.value)}>
          ${REPORTS.map((r) => html`<option value=${r.value}>${r.label}</option>`)}
        </select>
      </label>
      ${FORMATS.map(
        (
          format,
        ) => html`<button type="button" disabled=${state.sending !== undefined} onClick=${() => start(format)}>
          Export ${format.toUpperCase()}
        </button>`,
      )}
    </div>
    ${state.error ? html`<${ErrorNotice} error=${state.error} />` : null}
    ${jobs.length > 0 ? html`<ul class="jobs" aria-label="Exports">${jobs.map((job) => html`<${Job} key=${job.job_id} client=${client} job=${job} timeZone=${timeZone} />`)}</ul>` : null}
  </div>`;
}

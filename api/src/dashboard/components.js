import htm from "htm";
import { h } from "preact";
import { dateTime } from "./format.js";

export const html = htm.bind(h);

export function Loading({ what }) {
  return html`<p class="notice loading" role="status" aria-live="polite">Loading ${what}…</p>`;
}

/** What went wrong, said plainly, with a way to try again. */
export function ErrorNotice({ error, onRetry }) {
  const title =
    {
      offline: "The server is not answering",
      server: "The server had a problem",
      unauthorized: "The key was refused",
      not_found: "Not found",
    }[error.kind] ?? "The request was refused";
  return html`<div class="notice error" role="alert">
    <strong>${title}</strong>
    <p>${error.message}</p>
    ${error.requestId ? html`<p class="muted">Request id: <code>${error.requestId}</code></p>` : null}
    ${onRetry ? html`<button type="button" onClick=${onRetry}>Try again</button>` : null}
  </div>`;
}

export function Empty({ children }) {
  return html`<p class="notice empty" role="status">${children}</p>`;
}

/** A report's three states around its content. */
export function ReportState({ report, what, children }) {
  if (report.error) return html`<${ErrorNotice} error=${report.error} onRetry=${report.reload} />`;
  if (report.loading || !report.data) return html`<${Loading} what=${what} />`;
  return children(report.data);
}

/** Headline figures; `field` names the API field each one shows. */
export function Figures({ items }) {
  return html`<dl class="figures">
    ${items.map(
      (item) => html`<div class="figure">
        <dt>${item.label}</dt>
        <dd data-field=${item.field}>${item.value}</dd>
      </div>`,
    )}
  </dl>`;
}

/**
 * A table of rows. columns: { label, value(row) → text, field?, numeric? }; each cell carries the
 * API field it shows, so the figures can be read back.
 */
export function Table({ caption, columns, rows, rowKey, hiddenCaption, name }) {
  return html`<div class="table-wrap">
    <table data-table=${name}>
      <caption class=${hiddenCaption ? "visually-hidden" : ""}>${caption}</caption>
      <thead>
        <tr>
          ${columns.map((c) => html`<th scope="col" class=${c.numeric ? "num" : ""}>${c.label}</th>`)}
        </tr>
      </thead>
      <tbody>
        ${rows.map(
          (row, i) => html`<tr key=${rowKey ? rowKey(row) : i} data-row=${rowKey ? rowKey(row) : i}>
            ${columns.map(
              (c, j) =>
                html`${
                  j === 0
                    ? html`<th scope="row" data-field=${c.field}>${c.value(row)}</th>`
                    : html`<td data-field=${c.field} class=${c.numeric ? "num" : ""}>${c.value(row)}</td>`
                }`,
            )}
          </tr>`,
        )}
      </tbody>
    </table>
  </div>`;
}

export function Section({ title, children, id }) {
  return html`<section class="card" aria-labelledby=${id}>
    <h2 id=${id}>${title}</h2>
    ${children}
  </section>`;
}

/** How fresh a report is: events stored before data_through are counted (rollups follow a moment later). */
export function Freshness({ through, timeZone }) {
  if (through === undefined) return null;
  return html`<p class="muted freshness">
    ${
      through === null
        ? "No event stored yet for this account."
        : html`Counts every event stored before
            <time data-field="data_through" datetime=${through}>${dateTime(through, timeZone)}</time>.`
    }
  </p>`;
}

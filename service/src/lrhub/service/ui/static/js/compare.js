// Compare: several jobs' rates (one log axis) and a chosen metric (smoothed or not) overlaid on
// the same epochs, with a legend. The jobs are named (`#/compare?jobs=a,b,c`) or selected
// (`#/compare?selector=team=vision`).

import { ApiError, api, jobPath } from "./api.js";
import { badge, h, num, replace, s } from "./dom.js";
import { chart, seriesColor } from "./charts.js";

/** The most jobs one comparison draws (a selector matching more draws its first ones). */
export const COMPARE_MAX = 100;
const SERIES_EPOCHS = 100000; // the most a series page holds
const CONCURRENCY = 6;
const SERIES_JOBS = 100; // the jobs one /v1/series request names: LRHUB_MAX_SERIES_JOBS' default

/** A job's whole series as columns: {epochs, rates, metrics}, read page by page. */
export async function seriesColumns(jobId, signal) {
  const columns = { epochs: [], rates: [], metrics: [] };
  let cursor = null;
  do {
    const page = await api("GET", `${jobPath(jobId)}/series`, { query: { limit: SERIES_EPOCHS, cursor }, signal });
    columns.epochs.push(...page.epochs);
    columns.rates.push(...page.learning_rates);
    columns.metrics.push(...page.metrics);
    cursor = page.next_cursor;
  } while (cursor);
  return columns;
}

/** The whole series of each of `jobIds` as columns, by job id (a Map of {epochs, rates,
 * metrics}): `GET /v1/series`, one request for up to SERIES_JOBS jobs (and more only past a
 * page's bytes), instead of one per job. A job that is missing or may not be read refuses the
 * whole request (an ApiError). */
export async function seriesOfJobs(jobIds, signal) {
  const byJob = new Map(jobIds.map((jobId) => [jobId, { epochs: [], rates: [], metrics: [] }]));
  for (let start = 0; start < jobIds.length; start += SERIES_JOBS) {
    const jobs = jobIds.slice(start, start + SERIES_JOBS).join(",");
    let cursor = null;
    do {
      const query = { jobs, fields: "learning_rates,metrics", limit: SERIES_EPOCHS, cursor };
      const page = await api("GET", "/v1/series", { query, signal });
      // A job a page stopped in goes on in the next page: its columns are appended to.
      for (const item of page.items) {
        const columns = byJob.get(item.job_id);
        columns.epochs.push(...item.epochs);
        columns.rates.push(...item.learning_rates);
        columns.metrics.push(...item.metrics);
      }
      cursor = page.next_cursor;
    } while (cursor);
  }
  return byJob;
}

/** Each of `jobIds`' series as `{jobId, columns}`, in order: one `/v1/series` request for all
 * of them. One job missing or unreadable (or a server allowing fewer jobs a request) refuses
 * the whole request: job by job then, so each job's own series says which (`{jobId, error}`)
 * and the others are still read. */
export async function seriesOfEach(jobIds, signal) {
  try {
    const byJob = await seriesOfJobs(jobIds, signal);
    return jobIds.map((jobId) => ({ jobId, columns: byJob.get(jobId) }));
  } catch (error) {
    if (!(error instanceof ApiError) || error.status === 401) throw error;
  }
  return inParallel(jobIds, CONCURRENCY, async (jobId) => {
    try {
      return { jobId, columns: await seriesColumns(jobId, signal) };
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) throw error;
      return { jobId, error: error.message };
    }
  });
}

/** The latest value each metric took in `metrics` (a series' per-epoch objects or nulls). */
export function latestMetrics(metrics) {
  const latest = {};
  for (let i = metrics.length - 1; i >= 0; i--) {
    for (const [name, value] of Object.entries(metrics[i] || {})) if (!(name in latest)) latest[name] = value;
  }
  return latest;
}

/** The job ids of `#/compare?jobs=a,b` (in the order given, each once). */
export function jobsOf(text) {
  return [...new Set((text || "").split(",").map((id) => id.trim()).filter(Boolean))];
}

/** Run `work(item)` over `items`, `limit` at a time; answers the results in order. */
export async function inParallel(items, limit, work) {
  const results = new Array(items.length);
  let next = 0;
  async function worker() {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index], index);
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** Render the compare page into `main`; answers a function that leaves it. */
export async function comparePage(main, query) {
  const controller = new AbortController();
  const selector = query.get("selector") || "";
  let jobIds = jobsOf(query.get("jobs"));
  const notes = [];
  if (selector) {
    const page = await api("GET", "/v1/jobs", { query: { selector, limit: COMPARE_MAX }, signal: controller.signal });
    jobIds = page.items.map((job) => job.job_id);
    if (page.next_cursor) notes.push(`More than ${COMPARE_MAX} jobs match; the first ${COMPARE_MAX} are drawn.`);
  } else if (jobIds.length > COMPARE_MAX) {
    notes.push(`${jobIds.length} jobs named; the first ${COMPARE_MAX} are drawn.`);
    jobIds = jobIds.slice(0, COMPARE_MAX);
  }
  const title = selector ? h("code", {}, selector) : `${jobIds.length} job${jobIds.length === 1 ? "" : "s"}`;
  const chartBox = h("div", { class: "card chart-box", id: "compare-chart" }, h("p", { class: "muted" }, "Loading…"));
  const legend = h("div", { class: "compare-legend", id: "compare-legend" });
  const problems = h("div", { id: "compare-problems" });
  const metricSelect = h("select", { id: "compare-metric", onchange: draw });
  const smoothing = h("input", { id: "compare-smoothing", type: "range", min: "0", max: "0.99", step: "0.01", value: query.get("smoothing") || "0", oninput: draw });
  const smoothingValue = h("span", { id: "compare-smoothing-value", class: "muted" });
  replace(main,
    h("p", {}, h("a", { href: "#/jobs" }, "← Jobs")),
    h("h1", {}, "Compare ", title),
    notes.map((note) => h("p", { class: "muted" }, note)),
    jobIds.length === 0 ? h("p", { class: "muted", id: "compare-empty" },
      selector ? "No job matches this selector." : "Name jobs to compare: #/compare?jobs=a,b,c, or tick them in the jobs list.") : null,
    h("div", { class: "row chart-tools" },
      h("label", { for: "compare-metric" }, "metric "), metricSelect,
      h("label", { for: "compare-smoothing" }, "smoothing "), smoothing, smoothingValue),
    chartBox, legend, problems);
  if (jobIds.length === 0) {
    replace(chartBox);
    return () => controller.abort();
  }

  const loaded = await seriesOfEach(jobIds, controller.signal);
  const shown = loaded.filter((one) => one.columns);
  replace(problems, loaded.filter((one) => one.error).map((one) =>
    h("p", { class: "error", dataset: { job: one.jobId } }, `${one.jobId}: ${one.error}`)));

  const names = new Set();
  for (const one of shown) {
    for (const metrics of one.columns.metrics) for (const name of Object.keys(metrics || {})) names.add(name);
  }
  const sorted = [...names].sort();
  const wanted = query.get("metric");
  replace(metricSelect, h("option", { value: "" }, "none"), sorted.map((name) => h("option", { value: name }, name)));
  metricSelect.value = wanted && names.has(wanted) ? wanted : sorted.includes("val_loss") ? "val_loss" : sorted[0] || "";

  const latest = shown.map((one) => latestMetrics(one.columns.metrics));
  function drawLegend(metricName) {
    replace(legend, shown.map((one, index) => h("a", {
      class: "legend-item", href: `#/jobs/${encodeURIComponent(one.jobId)}`, dataset: { job: one.jobId },
    },
    // An SVG swatch: its fill is an attribute, which the page's style policy allows.
    s("svg", { class: "swatch", viewBox: "0 0 12 12", "aria-hidden": "true" }, s("rect", { width: 12, height: 4, y: 4, fill: seriesColor(index) })),
    one.jobId,
    metricName && latest[index][metricName] !== undefined ? h("span", { class: "muted" }, ` ${num(latest[index][metricName])}`) : null,
    one.columns.epochs.length === 0 ? badge("no epochs", "muted") : null)));
  }

  function draw() {
    performance.mark("lrhub:compare-draw-start"); // what bench/dashboard.py measures
    const metricName = metricSelect.value || null;
    const weight = Number(smoothing.value);
    smoothingValue.textContent = weight > 0 ? String(weight) : "off";
    replace(chartBox, chart({
      series: shown.map((one, index) => ({
        label: one.jobId,
        color: seriesColor(index),
        epochs: one.columns.epochs,
        rates: one.columns.rates,
        metric: metricName ? one.columns.metrics.map((m) => (m && metricName in m ? m[metricName] : null)) : null,
      })),
      metricName: metricName || "",
      smoothing: weight,
    }));
    drawLegend(metricName);
    performance.mark("lrhub:compare-drawn");
  }
  draw();
  return () => controller.abort();
}

// The jobs page: the fleet filtered by selector and status, paged from the API, with chosen
// metrics' latest values as sortable columns; ticked jobs (or the selection) open in Compare;
// bulk changes (dry run first, every before/after shown, then apply) on the ticked jobs, or on
// the filtered selection when none is ticked.

import { ApiError, api, canOperate, jobPath } from "./api.js";
import { ago, badge, h, num, replace } from "./dom.js";
import { sparkline } from "./charts.js";
import { latestMetrics, seriesOfEach } from "./compare.js";

const PAGE_SIZE = 50;
const STATUSES = ["", "running", "stopped", "completed", "failed"];
const SPARK_CONCURRENCY = 4;

/** The selector the bulk change and the list use: the typed selector plus the status filter. */
export function selectionOf(selector, status) {
  return [selector.trim(), status ? `status=${status}` : ""].filter(Boolean).join(",");
}

/** The selector of exactly the ticked jobs (job ids fit a selector value as they are). */
export function pickedSelection(jobIds) {
  return jobIds.length ? `job_id in (${[...jobIds].sort().join(",")})` : "";
}

/** The metric names of `?metrics=val_loss,acc` (each once, in the order given). */
export function metricColumnsOf(text) {
  return [...new Set((text || "").split(",").map((name) => name.trim()).filter(Boolean))];
}

/** Compare rows by one column's values (numbers; a missing value sorts last either way). */
export function byValue(direction) {
  return (a, b) => {
    if (a === null) return b === null ? 0 : 1;
    if (b === null) return -1;
    return direction === "ascending" ? a - b : b - a;
  };
}

/** A change to the rate made since the job's last decision: the epoch it takes effect at, as
 * the server marks it (`pending_epoch`: labels and status changes are not pending). */
export function pendingEpoch(job) {
  if (job.status !== "running") return null;
  return job.pending_epoch ?? null;
}

function statusMarks(job) {
  const pending = pendingEpoch(job);
  return [
    badge(job.status, job.status),
    pending !== null ? h("span", { class: "badge badge-override pending-mark", title: "its rate changed since its last decision" }, `pending from epoch ${pending}`) : null,
    job.stale ? badge("stale", "stale") : null,
    job.paused ? badge("paused", "paused") : null,
    job.override !== null ? badge(`override ${num(job.override)}`, "override") : null,
  ];
}

function scheduleText(job) {
  const schedule = job.schedule;
  if (!schedule.name) return `inline ${job.spec.type}`;
  return `${schedule.name}@${schedule.version}${schedule.follow === "latest" ? " (latest)" : ""}`;
}

function labelsOf(labels) {
  return Object.entries(labels).map(([k, v]) => h("span", { class: "label" }, `${k}=${v}`));
}

/** Fill each row's sparkline cell from the job's series: its first 1,000 epochs, a few requests
 * at a time; or, when metric columns need each job's latest values, every job's whole series in
 * one request (`/v1/series`, job by job only when that is refused). A row whose series cannot
 * be read shows no curve; the job page says why. */
async function drawSparklines(cells, metricColumns, signal) {
  if (metricColumns.length) {
    const loaded = await seriesOfEach(cells.map(([jobId]) => jobId), signal).catch(() => []);
    loaded.forEach(({ columns }, index) => {
      if (!columns) return;
      const [, cell, metricCells] = cells[index];
      replace(cell, sparkline(columns.rates));
      const latest = latestMetrics(columns.metrics);
      metricColumns.forEach((name, i) => {
        const value = name in latest ? latest[name] : null;
        metricCells[i].dataset.value = value === null ? "" : String(value);
        replace(metricCells[i], num(value));
      });
    });
    return;
  }
  const queue = [...cells];
  async function worker() {
    while (queue.length && !signal.aborted) {
      const [jobId, cell] = queue.shift();
      try {
        const page = await api("GET", `${jobPath(jobId)}/series`, { query: { limit: 1000 }, signal });
        replace(cell, sparkline(page.learning_rates));
      } catch {
        // the row shows no curve; the job page says why
      }
    }
  }
  await Promise.all(Array.from({ length: SPARK_CONCURRENCY }, worker));
}

function diffRows(before, after) {
  const keys = new Set([...Object.keys(before || {}), ...Object.keys(after || {})]);
  const rows = [];
  for (const key of keys) {
    const b = JSON.stringify(before ? before[key] : null);
    const a = JSON.stringify(after ? after[key] : null);
    if (b !== a) rows.push(h("div", { class: "diff" }, h("code", {}, key), ": ", h("del", {}, b), " → ", h("ins", {}, a)));
  }
  return rows.length ? rows : [h("span", { class: "muted" }, "no change")];
}

function bulkBody(form) {
  const body = {};
  const scale = form.querySelector("#bulk-scale").value.trim();
  const override = form.querySelector("#bulk-override").value.trim();
  const paused = form.querySelector("#bulk-paused").value;
  const status = form.querySelector("#bulk-status").value;
  const schedule = form.querySelector("#bulk-schedule").value.trim();
  if (scale) body.scale = Number(scale);
  if (override === "none") body.override = null;
  else if (override) body.override = Number(override);
  if (paused) body.paused = paused === "true";
  if (status) body.status = status;
  if (schedule) {
    body.schedule = schedule;
    body.clock = form.querySelector("#bulk-clock").value;
  }
  const cooldown = form.querySelector("#bulk-cooldown").value.trim();
  if (cooldown === "cancel") body.cooldown = null;
  else if (cooldown) {
    body.cooldown = {
      [form.querySelector("#bulk-cooldown-unit").value]: Number(cooldown),
      shape: form.querySelector("#bulk-cooldown-shape").value,
      min_learning_rate: Number(form.querySelector("#bulk-cooldown-min").value || 0),
    };
  }
  return body;
}

/** The bulk change form; `picked()` answers the ticked job ids. Its `update()` re-reads them. */
function bulkPanel(filtered, picked, refresh) {
  const result = h("div", { id: "bulk-result" });
  const error = h("p", { class: "error", id: "bulk-error", role: "alert" });
  const scope = h("p", { class: "muted", id: "bulk-scope" });
  const dryRunButton = h("button", { type: "button", id: "bulk-dry-run", onclick: () => run(true) }, "Dry run");
  // What the last dry run ran on: Apply changes exactly that, whatever is ticked since.
  let dryRunSelection = "";
  const current = () => pickedSelection(picked()) || filtered;
  function update() {
    const ids = picked();
    if (ids.length) {
      replace(scope, `Applies to the ${ids.length} ticked job${ids.length === 1 ? "" : "s"}: `,
        h("code", { id: "bulk-selection" }, pickedSelection(ids)), ".");
    } else if (filtered) {
      replace(scope, "Applies to every job matching ", h("code", { id: "bulk-selection" }, filtered), ".");
    } else {
      replace(scope, "Tick jobs, or filter by a selector (or a status): a bulk change applies to the ticked jobs, or else to the filtered selection.");
    }
    dryRunButton.disabled = !current();
  }
  const form = h("form", { class: "card bulk", id: "bulk", onsubmit: (e) => e.preventDefault() },
    h("h2", {}, "Bulk change"),
    scope,
    h("div", { class: "row" },
      h("label", {}, "scale ", h("input", { id: "bulk-scale", type: "number", step: "any", min: "0", placeholder: "0.5" })),
      h("label", {}, "override ", h("input", { id: "bulk-override", placeholder: "0.001 or none" })),
      h("label", {}, "paused ", h("select", { id: "bulk-paused" }, h("option", { value: "" }, "—"), h("option", { value: "true" }, "pause"), h("option", { value: "false" }, "resume"))),
      h("label", {}, "status ", h("select", { id: "bulk-status" }, h("option", { value: "" }, "—"), h("option", { value: "stopped" }, "stop"), h("option", { value: "running" }, "resume (running)"))),
      h("label", {}, "schedule ", h("input", { id: "bulk-schedule", placeholder: "name or name@3" })),
      h("label", {}, "clock ", h("select", { id: "bulk-clock" }, h("option", { value: "continue" }, "continue"), h("option", { value: "restart" }, "restart")))),
    h("div", { class: "row" },
      h("label", {}, "cool down over ", h("input", { id: "bulk-cooldown", placeholder: "1000 or cancel" })),
      h("select", { id: "bulk-cooldown-unit", "aria-label": "cooldown unit" }, h("option", { value: "steps" }, "steps"), h("option", { value: "epochs" }, "epochs")),
      h("select", { id: "bulk-cooldown-shape", "aria-label": "cooldown shape" }, ["1-sqrt", "linear", "cosine"].map((shape) => h("option", { value: shape }, shape))),
      h("label", {}, "to ", h("input", { id: "bulk-cooldown-min", type: "number", step: "any", min: "0", placeholder: "0" }))),
    dryRunButton,
    error, result);

  async function run(dryRun) {
    error.textContent = "";
    const body = bulkBody(form);
    if (Object.keys(body).length === 0) {
      error.textContent = "Choose at least one change.";
      return;
    }
    if (dryRun) dryRunSelection = current();
    try {
      const answer = await api("PATCH", "/v1/jobs", { query: { selector: dryRunSelection, dry_run: dryRun }, body });
      showAnswer(answer, dryRun);
      if (!dryRun) refresh();
    } catch (e) {
      error.textContent = e instanceof ApiError && e.errors.length
        ? e.errors.map((x) => `${x.loc}: ${x.msg}`).join("; ") : e.message;
    }
  }

  function showAnswer(answer, dryRun) {
    const rows = answer.jobs.map((job) => h("tr", { dataset: { job: job.job_id, outcome: job.outcome } },
      h("td", {}, h("a", { href: `#/jobs/${encodeURIComponent(job.job_id)}` }, job.job_id)),
      h("td", {}, badge(job.outcome, job.outcome)),
      h("td", {}, job.detail ? h("span", { class: "muted" }, job.detail) : diffRows(job.before, job.after))));
    replace(result,
      h("h3", {}, dryRun ? `Dry run: ${answer.matched} matched, nothing changed yet` : `Applied: change ${answer.change_id}`),
      h("table", { class: "table", id: dryRun ? "dry-run-table" : "applied-table" },
        h("thead", {}, h("tr", {}, h("th", {}, "job"), h("th", {}, "outcome"), h("th", {}, "before → after"))),
        h("tbody", {}, rows)),
      answer.next_cursor ? h("p", { class: "muted" }, "More jobs match than one change may touch; apply again for the rest.") : null,
      dryRun ? h("div", { class: "row" },
        h("button", { type: "button", id: "bulk-apply", class: "danger", onclick: () => run(false) }, `Apply to ${answer.jobs.length} jobs`),
        h("button", { type: "button", class: "link", onclick: () => replace(result) }, "Cancel")) : null);
  }
  update();
  return { form, update };
}

/** Render the jobs page into `main`; answers a function that leaves it. */
export async function jobsPage(main, query) {
  const selector = query.get("selector") || "";
  const status = query.get("status") || "";
  const metricColumns = metricColumnsOf(query.get("metrics"));
  const cursors = (query.get("pages") || "").split(" ").filter(Boolean);
  const cursor = cursors.length ? cursors[cursors.length - 1] : null;
  const controller = new AbortController();

  const selectorInput = h("input", { id: "selector", name: "selector", value: selector, placeholder: "team=vision,stage!=prod", size: 36 });
  const metricsInput = h("input", { id: "metric-columns", name: "metrics", value: metricColumns.join(","), placeholder: "val_loss,accuracy", size: 18 });
  const statusSelect = h("select", { id: "status", name: "status" },
    STATUSES.map((value) => h("option", { value, selected: value === status ? true : null }, value || "any status")));
  statusSelect.value = status;
  const filterError = h("p", { class: "error", id: "filter-error", role: "alert" });
  const filter = h("form", { class: "filters", id: "filters", onsubmit: (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    if (selectorInput.value.trim()) next.set("selector", selectorInput.value.trim());
    if (statusSelect.value) next.set("status", statusSelect.value);
    if (metricsInput.value.trim()) next.set("metrics", metricColumnsOf(metricsInput.value).join(","));
    window.location.hash = `#/jobs?${next}`;
  } },
  h("label", { for: "selector" }, "Selector"), selectorInput,
  h("label", { for: "status" }, "Status"), statusSelect,
  h("label", { for: "metric-columns" }, "Metric columns"), metricsInput,
  h("button", { type: "submit" }, "Filter"), filterError);

  const operator = canOperate();
  const picked = new Set(); // ticked job ids, on this page
  const tbody = h("tbody", {});
  const metricHeads = metricColumns.map((name, i) => h("th", {
    class: "num sortable metric-column", dataset: { metric: name }, tabindex: "0", "aria-sort": "none",
    onclick: () => sortBy(i), onkeydown: (event) => { if (event.key === "Enter") sortBy(i); },
  }, name));
  const table = h("table", { class: "table", id: "jobs-table" },
    h("thead", {}, h("tr", {},
      h("th", {}, h("span", { class: "visually-hidden" }, "pick")),
      h("th", {}, "job"), h("th", {}, "status"), h("th", { class: "num" }, "rate"), metricHeads, h("th", {}, "curve"),
      h("th", {}, "schedule"), h("th", {}, "labels"), h("th", {}, "last seen"))),
    tbody);
  /** Sort this page's rows by the i-th metric column, ascending first, then descending. */
  function sortBy(i) {
    const head = metricHeads[i];
    const direction = head.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
    for (const other of metricHeads) other.setAttribute("aria-sort", "none");
    head.setAttribute("aria-sort", direction);
    const valueOf = (row) => {
      const text = row.querySelectorAll("td.metric-value")[i].dataset.value;
      return text ? Number(text) : null;
    };
    const rows = [...tbody.querySelectorAll("tr[data-job]")];
    const compare = byValue(direction);
    rows.sort((a, b) => compare(valueOf(a), valueOf(b)));
    tbody.append(...rows);
  }
  const compareButton = h("button", { type: "button", id: "compare-picked", disabled: true, onclick: () => {
    window.location.hash = `#/compare?jobs=${[...picked].map(encodeURIComponent).join(",")}`;
  } }, "Compare ticked");
  const selection = selectionOf(selector, status);
  const compareTools = h("div", { class: "row", id: "compare-tools" }, compareButton,
    selection ? h("a", { id: "compare-selection", href: `#/compare?${new URLSearchParams({ selector: selection })}` }, "Compare the selection") : null);
  function pickedChanged() {
    compareButton.disabled = picked.size === 0;
    compareButton.textContent = picked.size ? `Compare ${picked.size} ticked` : "Compare ticked";
    if (bulk) bulk.update();
  }
  const pager = h("div", { class: "pager" });
  const bulk = operator ? bulkPanel(selectionOf(selector, status), () => [...picked], loadList) : null;
  async function loadList() {
    let page;
    try {
      page = await api("GET", "/v1/jobs", { query: { selector: selector || null, status: status || null, limit: PAGE_SIZE, cursor }, signal: controller.signal });
    } catch (error) {
      if (!(error instanceof ApiError) || error.status === 401) throw error;
      filterError.textContent = error.errors.length ? error.errors.map((x) => `${x.loc}: ${x.msg}`).join("; ") : error.message;
      return;
    }
    replace(tbody);
    picked.clear();
    pickedChanged();
    const sparkCells = [];
    for (const job of page.items) {
      const cell = h("td", { class: "spark-cell" });
      const metricCells = metricColumns.map(() => h("td", { class: "num metric-value", dataset: { value: "" } }, "…"));
      sparkCells.push([job.job_id, cell, metricCells]);
      const pick = h("td", {}, h("input", {
        type: "checkbox", class: "pick", "aria-label": `pick ${job.job_id}`,
        onchange: (event) => {
          if (event.target.checked) picked.add(job.job_id);
          else picked.delete(job.job_id);
          pickedChanged();
        },
      }));
      tbody.append(h("tr", { dataset: { job: job.job_id } },
        pick,
        h("td", {}, h("a", { href: `#/jobs/${encodeURIComponent(job.job_id)}`, class: "job-link" }, job.job_id)),
        h("td", {}, statusMarks(job)),
        h("td", { class: "num rate" }, num(job.learning_rate)),
        metricCells,
        cell,
        h("td", {}, scheduleText(job)),
        h("td", {}, labelsOf(job.labels)),
        h("td", {}, ago(job.last_seen_at))));
    }
    if (page.items.length === 0) tbody.append(h("tr", {}, h("td", { colspan: 8 + metricColumns.length, class: "muted" }, "No job matches.")));
    performance.mark("lrhub:jobs-listed"); // what bench/dashboard.py measures
    replace(pager,
      cursors.length ? h("a", { href: pageLink(cursors.slice(0, -1)), id: "prev-page" }, "← Previous") : null,
      h("span", { class: "muted" }, `page ${cursors.length + 1}, ${page.items.length} jobs`),
      page.next_cursor ? h("a", { href: pageLink([...cursors, page.next_cursor]), id: "next-page" }, "Next →") : null);
    drawSparklines(sparkCells, metricColumns, controller.signal).then(() => performance.mark("lrhub:sparklines-drawn"));
  }

  const pageLink = (pages) => {
    const next = new URLSearchParams();
    if (selector) next.set("selector", selector);
    if (status) next.set("status", status);
    if (metricColumns.length) next.set("metrics", metricColumns.join(","));
    if (pages.length) next.set("pages", pages.join(" "));
    return `#/jobs?${next}`;
  };
  replace(main, h("h1", {}, "Jobs"), filter, h("div", { class: "card" }, compareTools, table, pager),
    bulk ? bulk.form : null);
  await loadList();
  return () => controller.abort();
}

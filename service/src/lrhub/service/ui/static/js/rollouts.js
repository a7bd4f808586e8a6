// Rollouts: the list (#/rollouts) and one rollout (#/rollouts/<id>): its state and verdict, and
// the canary's and the control's curves overlaid, one colour per cohort, with the compared
// metric beneath and each job's figures.

import { api, canOperate } from "./api.js";
import { badge, h, num, replace, s } from "./dom.js";
import { chart } from "./charts.js";
import { seriesOfEach } from "./compare.js";

/** The colour of each cohort's curves. */
export const COHORT_COLORS = { canary: "#d9480f", control: "#2f5bd3" };
const ACTIONS = ["promote", "revert", "abort"];
const FINAL = new Set(["promoted", "reverted", "aborted"]);

const path = (rolloutId) => `/v1/rollouts/${encodeURIComponent(rolloutId)}`;
const signed = (value) => (value === null || value === undefined ? "–" : `${value >= 0 ? "+" : ""}${value.toFixed(4)}`);

/** The series of a rollout's jobs, each labelled and coloured by its cohort. */
export function cohortSeries(rollout, loaded, metricName) {
  const cohortOf = new Map([...rollout.canary.map((id) => [id, "canary"]), ...rollout.control.map((id) => [id, "control"])]);
  return loaded.filter((one) => one.columns).map((one) => ({
    label: `${cohortOf.get(one.jobId)}: ${one.jobId}`,
    color: COHORT_COLORS[cohortOf.get(one.jobId)],
    epochs: one.columns.epochs,
    rates: one.columns.rates,
    metric: one.columns.metrics.map((m) => (m && metricName in m ? m[metricName] : null)),
  }));
}

function listPage(main, page) {
  replace(main,
    h("h1", {}, "Rollouts"),
    page.items.length === 0
      ? h("p", { class: "muted", id: "rollouts-empty" }, "No rollouts yet: lrhub rollouts create, or POST /v1/rollouts.")
      : h("table", { class: "table", id: "rollouts-table" },
        h("thead", {}, h("tr", {}, ["rollout", "state", "selector", "change", "canary", "control", "verdict"].map((name) => h("th", {}, name)))),
        h("tbody", {}, page.items.map((rollout) => h("tr", { dataset: { rollout: rollout.rollout_id } },
          h("td", {}, h("a", { href: `#/rollouts/${rollout.rollout_id}` }, h("code", {}, rollout.rollout_id.slice(0, 8)))),
          h("td", {}, badge(rollout.state, rollout.state)),
          h("td", {}, h("code", {}, rollout.selector)),
          h("td", {}, h("code", {}, JSON.stringify(rollout.change))),
          h("td", {}, String(rollout.canary.length)),
          h("td", {}, String(rollout.control.length)),
          h("td", {}, rollout.verdict ? rollout.verdict.detail : "analyzing…"))))));
}

function figuresTable(verdict) {
  return h("table", { class: "table", id: "rollout-figures" },
    h("thead", {}, h("tr", {}, ["job", "cohort", "baseline", "value", "relative change", "left out"].map((name, i) => h("th", i >= 2 && i <= 4 ? { class: "num" } : {}, name)))),
    h("tbody", {}, verdict.jobs.map((job) => h("tr", { dataset: { job: job.job_id, cohort: job.cohort } },
      h("td", {}, h("a", { href: `#/jobs/${encodeURIComponent(job.job_id)}` }, job.job_id)),
      h("td", {}, job.cohort),
      h("td", { class: "num" }, job.baseline === null ? "–" : num(job.baseline)),
      h("td", { class: "num" }, job.value === null ? "–" : num(job.value)),
      h("td", { class: "num relative-change" }, signed(job.relative_change)),
      h("td", {}, job.left_out || "")))));
}

async function rolloutPage(main, rolloutId, controller) {
  const rollout = await api("GET", path(rolloutId), { signal: controller.signal });
  const { analysis, verdict } = rollout;
  const status = h("p", { class: "error", id: "rollout-action-error", role: "alert" });
  const actions = canOperate() && !FINAL.has(rollout.state)
    ? h("div", { class: "row", id: "rollout-actions" }, ACTIONS.map((action) => h("button", {
      type: "button", id: `rollout-${action}`, onclick: async () => {
        try {
          await api("POST", `${path(rolloutId)}/${action}`);
          window.dispatchEvent(new HashChangeEvent("hashchange"));
        } catch (error) {
          status.textContent = error.message;
        }
      },
    }, action)))
    : null;
  const chartBox = h("div", { class: "card chart-box", id: "rollout-chart" }, h("p", { class: "muted" }, "Loading…"));
  replace(main,
    h("p", {}, h("a", { href: "#/rollouts" }, "← Rollouts")),
    h("h1", {}, "Rollout ", h("code", {}, rollout.rollout_id.slice(0, 8)), " ", badge(rollout.state, rollout.state)),
    h("dl", { class: "rollout-facts", id: "rollout-facts" },
      h("dt", {}, "selector"), h("dd", {}, h("code", {}, rollout.selector)),
      h("dt", {}, "change"), h("dd", {}, h("code", {}, JSON.stringify(rollout.change)), " ",
        h("a", { href: `#/compare?jobs=${[...rollout.canary, ...rollout.control].join(",")}` }, "compare")),
      h("dt", {}, "analysis"), h("dd", {}, `${analysis.metric} (${analysis.mode}) ${analysis.epochs} epochs after each baseline, max regression ${analysis.max_regression}`),
      h("dt", {}, "verdict"), h("dd", { id: "rollout-verdict" }, verdict
        ? `${verdict.passed ? "passed" : "failed"}: canary median ${signed(verdict.canary_median)}, control median ${signed(verdict.control_median)}`
        : "waiting for every cohort job's epochs")),
    actions, status,
    h("div", { class: "compare-legend", id: "rollout-legend" }, Object.entries(COHORT_COLORS).map(([cohort, color]) => h("span", { class: "legend-item", dataset: { cohort } },
      s("svg", { class: "swatch", viewBox: "0 0 12 12", "aria-hidden": "true" }, s("rect", { width: 12, height: 4, y: 4, fill: color })),
      `${cohort} (${rollout[cohort].length})`))),
    chartBox,
    verdict ? h("div", { class: "card" }, figuresTable(verdict)) : null);

  const loaded = await seriesOfEach([...rollout.canary, ...rollout.control], controller.signal);
  replace(chartBox, chart({ series: cohortSeries(rollout, loaded, analysis.metric), metricName: analysis.metric }));
}

/** Render the rollouts list, or one rollout, into `main`; answers a function that leaves it. */
export async function rolloutsPage(main, rolloutId) {
  const controller = new AbortController();
  if (rolloutId) await rolloutPage(main, rolloutId, controller);
  else listPage(main, await api("GET", "/v1/rollouts", { query: { limit: 100 }, signal: controller.signal }));
  return () => controller.abort();
}

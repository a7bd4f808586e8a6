// One job: its rate curve (log axis) with a reported metric beneath, marks where changes took
// effect, the history and the audit log, live from /v1/stream; controls for operators.

import { ApiError, allItems, api, canOperate, isAdmin, jobPath } from "./api.js";
import { ago, badge, h, num, replace } from "./dom.js";
import { MARK_LETTERS, driftMarks, rateChart, reductionMarks } from "./charts.js";
import { follow } from "./stream.js";
import { pendingEpoch } from "./jobs.js";

const HISTORY_ROWS = 200;
const SERIES_EPOCHS = 100000; // the most a series page holds

/** The kinds of change an audit event made, for the chart's marks. */
export function changeKinds(event) {
  const before = event.before || {};
  const after = event.after || {};
  const differs = (key) => JSON.stringify(before[key]) !== JSON.stringify(after[key]);
  if (!event.before) return [];
  const kinds = [];
  if (differs("schedule") || differs("spec") || differs("clock_origin")) kinds.push("switch");
  if (differs("override")) kinds.push("override");
  if (differs("paused")) kinds.push("pause");
  if (differs("scale")) kinds.push("scale");
  if (differs("cooldown")) kinds.push("cooldown");
  if (differs("status") && after.status === "stopped") kinds.push("stop");
  return kinds;
}

function describe(kind, event) {
  const after = event.after || {};
  switch (kind) {
    case "switch": return `schedule ${after.schedule && after.schedule.name ? `${after.schedule.name}@${after.schedule.version}` : "inline"} by ${event.actor}`;
    case "override": return `override ${after.override === null ? "cleared" : num(after.override)} by ${event.actor}`;
    case "pause": return `${after.paused ? "paused" : "resumed"} by ${event.actor}`;
    case "scale": return `scale ${num(after.scale)} by ${event.actor}`;
    case "cooldown": return after.cooldown ? `${cooldownText(after.cooldown)} by ${event.actor}` : `cooldown cancelled by ${event.actor}`;
    case "stop": return `stopped by ${event.actor}`;
    default: return kind;
  }
}

/** A cooldown as a phrase: "cooldown 1-sqrt over 100 steps to 0". */
export function cooldownText(cooldown) {
  return `cooldown ${cooldown.shape} over ${cooldown.length} ${cooldown.unit}s to ${num(cooldown.min_learning_rate)}`;
}

/** Where a job's cooldown is: not started, decaying from a rate, finished. */
function cooldownState(cooldown) {
  if (!cooldown) return "none";
  if (cooldown.start === null) return `${cooldownText(cooldown)}, from the next decision`;
  const state = cooldown.finished ? "finished" : "decaying";
  return `${cooldownText(cooldown)}: ${state} (from ${num(cooldown.start_rate)} at ${cooldown.unit} ${cooldown.start})`;
}

/** Marks: each change at the first epoch decided after it, and plateau reductions. */
export function marksOf(items, events) {
  const marks = [];
  const decided = items.map((item) => Date.parse(item.decided_at));
  for (const event of events) {
    const at = Date.parse(event.at);
    const index = decided.findIndex((time) => time > at);
    if (index < 0) continue;
    for (const kind of changeKinds(event)) marks.push({ epoch: items[index].epoch, kind, label: describe(kind, event) });
  }
  const changed = new Set(marks.map((m) => m.epoch));
  const reductions = reductionMarks(items.map((i) => i.epoch), items.map((i) => i.reductions), items.map((i) => i.reason));
  return [...marks, ...reductions.filter((mark) => !changed.has(mark.epoch)), ...driftMarks(items)];
}

/** A `/series` page as history items (the fields the page draws), epoch by epoch. */
export function seriesPageItems(page) {
  return page.epochs.map((epoch, i) => ({
    epoch,
    learning_rate: page.learning_rates[i],
    reason: page.reasons[i],
    reductions: page.reductions[i],
    decided_at: page.decided_at[i],
    metrics: page.metrics[i],
    applied_learning_rate: page.applied_learning_rates ? page.applied_learning_rates[i] : null,
    drift: page.drift ? page.drift[i] : null,
  }));
}

/** Give the epoch before `decision` the metrics `decision` was made from, when the page does not
 * know them yet: they were observed at that epoch's end, and the stream sends each decision
 * once, when it is made, before its epoch has ended. */
export function takeEndMetrics(history, decision) {
  const ended = history.get(decision.epoch - 1);
  if (ended && ended.metrics == null && decision.input_metrics != null) {
    history.set(ended.epoch, { ...ended, metrics: decision.input_metrics });
  }
}

/** Read the job's curve (the decisions in force, a rewound epoch's first answer left out), one
 * series page at a time, handing each page's items to `onPage`: one request for most jobs, a
 * fraction of the history's items in bytes and in the server's work. */
async function seriesItems(jobId, onPage) {
  let cursor = null;
  do {
    const page = await api("GET", `${jobPath(jobId)}/series`, { query: { limit: SERIES_EPOCHS, cursor } });
    onPage(seriesPageItems(page));
    cursor = page.next_cursor;
  } while (cursor);
}

/** The metric names the job reported, the one its schedule monitors first. */
function metricNames(items, monitored) {
  const names = new Set();
  for (const item of items) for (const name of Object.keys(item.metrics || {})) names.add(name);
  const sorted = [...names].sort();
  return monitored && names.has(monitored) ? [monitored, ...sorted.filter((n) => n !== monitored)] : sorted;
}

function problemText(error) {
  if (error instanceof ApiError && error.errors.length) return error.errors.map((x) => `${x.loc}: ${x.msg}`).join("; ");
  return error.message;
}

/** Render the job page; answers a function that leaves it (closes the stream). */
export async function jobPage(main, jobId) {
  const history = new Map(); // epoch -> the history item in force
  let events = [];
  let job = null; // drawn from once read; the stream opens meanwhile
  let changedMeanwhile = false; // a change event came before the job was read
  const decidedMeanwhile = []; // decisions that came before it, applied to it once read
  let endRead = false; // whether the ended job's last epoch was read again (reloadJobAndEvents)
  let metricName = null;
  const liveState = h("span", { id: "live", class: "badge badge-muted" }, "connecting");
  // Follow the stream before reading the history, so nothing decided in between is missed
  // (the history map makes an epoch seen twice count once); it connects while the job is read.
  let resolveLive;
  const live = new Promise((resolve) => { resolveLive = resolve; });
  const close = follow({ job: jobId }, (kind, data) => {
    if (kind === "decision" || kind === "drift") { // a drift: the decision again, with its report
      takeEndMetrics(history, data);
      history.set(data.epoch, data);
      if (job === null) {
        decidedMeanwhile.push(data);
        return;
      }
      takeDecision(data);
      drawHeader();
      drawChart();
      // A decision starts (and ends) a cooldown on the job: read where it is now.
      if (job.cooldown && !job.cooldown.finished) refreshJob().catch((error) => { message.textContent = problemText(error); });
    } else if (job === null) {
      changedMeanwhile = true;
    } else {
      reloadJobAndEvents().catch((error) => { message.textContent = problemText(error); });
    }
  }, (state) => {
    streamState = state;
    drawLiveState();
    if (state === "live") resolveLive();
  });
  let streamState = "connecting";
  /** "live" only for a running job whose stream is connected: a finished job is not live. */
  function drawLiveState() {
    const live = streamState === "live" && job !== null && job.status === "running";
    liveState.textContent = job !== null && job.status !== "running" ? job.status : streamState;
    liveState.className = `badge badge-${live ? "running" : "muted"}`;
  }
  try {
    job = await api("GET", jobPath(jobId));
  } catch (error) {
    close();
    throw error;
  }
  decidedMeanwhile.forEach(takeDecision);
  drawLiveState();

  /** The job as a decision the stream showed leaves it. */
  function takeDecision(data) {
    job.learning_rate = data.learning_rate;
    job.last_epoch = Math.max(job.last_epoch ?? -1, data.epoch);
    job.last_seen_at = data.decided_at;
    job.pending_epoch = null; // a decision takes in whatever change was pending
  }

  const header = h("div", { class: "card job-head", id: "job-head" });
  const chartBox = h("div", { class: "card chart-box", id: "chart" });
  const metricSelect = h("select", { id: "metric", onchange: () => { metricName = metricSelect.value || null; drawChart(); } });
  const controls = canOperate() ? h("div", { class: "card controls", id: "controls" }) : null;
  const historyBody = h("tbody", {});
  // Kept by reference, not looked up: a draw still pending when the page is left then writes
  // into the detached page, never into (or past) the next one.
  const historyNote = h("p", { class: "muted", id: "history-note" });
  const eventsBody = h("tbody", {});
  const message = h("p", { class: "error", id: "control-error", role: "alert" });
  const pendingNote = h("p", { class: "pending", id: "pending", role: "status" });

  replace(main,
    h("p", {}, h("a", { href: "#/jobs" }, "← Jobs")),
    h("h1", {}, "Job ", h("span", { id: "job-id" }, jobId)),
    header,
    h("div", { class: "row chart-tools" }, h("label", { for: "metric" }, "metric beside the rate "), metricSelect, liveState,
      h("span", { class: "legend" }, Object.entries(MARK_LETTERS).map(([kind, letter]) => h("span", { class: `mark-key mark-${kind}` }, `${letter} ${kind}`)))),
    pendingNote, chartBox, controls, message,
    h("div", { class: "columns" },
      h("div", { class: "card" }, h("h2", {}, "History"), historyNote,
        h("table", { class: "table", id: "history-table" },
          h("thead", {}, h("tr", {}, h("th", { class: "num" }, "epoch"), h("th", { class: "num" }, "rate"), h("th", {}, "metrics at its end"), h("th", {}, "reason"))),
          historyBody)),
      h("div", { class: "card" }, h("h2", {}, "Audit log"),
        h("table", { class: "table", id: "events-table" },
          h("thead", {}, h("tr", {}, h("th", {}, "when"), h("th", {}, "who"), h("th", {}, "what"))),
          eventsBody))));

  /** A change to the rate made since the last decision (the server's `pending_epoch`), the
   * epoch it takes effect at, and what the changes since that decision were. */
  function showPending() {
    const at = pendingEpoch(job);
    if (at === null) {
      replace(pendingNote);
      return;
    }
    const items = sortedItems();
    const lastDecided = items.length ? Math.max(...items.map((item) => Date.parse(item.decided_at))) : -Infinity;
    const changes = events.filter((event) => Date.parse(event.at) > lastDecided)
      .flatMap((event) => changeKinds(event).filter((kind) => kind !== "stop").map((kind) => describe(kind, event)));
    replace(pendingNote, "Pending from epoch ", h("strong", { id: "pending-epoch" }, String(at)),
      changes.length ? `: ${changes.join("; ")}.` : ".");
  }

  function drawHeader() {
    drawLiveState();
    showPending();
    replace(header,
      h("div", { class: "facts" },
        fact("status", [badge(job.status, job.status), job.stale ? badge("stale", "stale") : null, job.paused ? badge("paused", "paused") : null]),
        fact("current rate", h("span", { id: "current-rate" }, num(job.learning_rate))),
        fact("last epoch", job.last_epoch === null ? "—" : String(job.last_epoch)),
        fact("schedule", job.schedule.name ? `${job.schedule.name}@${job.schedule.version} (${job.schedule.follow})` : `inline ${job.spec.type}`),
        fact("scale", num(job.scale)),
        fact("override", h("span", { id: "current-override" }, job.override === null ? "none" : num(job.override))),
        fact("cooldown", h("span", { id: "current-cooldown" }, cooldownState(job.cooldown))),
        fact("labels", Object.entries(job.labels).map(([k, v]) => h("span", { class: "label" }, `${k}=${v}`))),
        fact("last seen", ago(job.last_seen_at))));
  }

  function sortedItems() {
    return [...history.values()].sort((a, b) => a.epoch - b.epoch);
  }

  let drawPending = false;
  function drawChart() {
    // One redraw per frame however many decisions arrive.
    if (drawPending) return;
    drawPending = true;
    requestAnimationFrame(() => {
      drawPending = false;
      performance.mark("lrhub:chart-draw-start"); // what bench/dashboard.py measures
      const items = sortedItems();
      const names = metricNames(items, job.spec && job.spec.monitor);
      if (metricName === null || !names.includes(metricName)) metricName = names[0] || null;
      if (metricSelect.options.length !== names.length) {
        replace(metricSelect, names.map((name) => h("option", { value: name }, name)));
      }
      metricSelect.value = metricName || "";
      const chart = rateChart({
        epochs: items.map((item) => item.epoch),
        rates: items.map((item) => item.learning_rate),
        metric: metricName ? items.map((item) => (item.metrics && metricName in item.metrics ? item.metrics[metricName] : null)) : null,
        metricName: metricName || "",
        marks: marksOf(items, events),
      });
      replace(chartBox, chart);
      performance.mark("lrhub:chart-drawn");
      drawHistoryTable(items);
    });
  }

  function drawHistoryTable(items) {
    const shown = items.slice(-HISTORY_ROWS).reverse();
    historyNote.textContent = items.length > HISTORY_ROWS
      ? `the last ${HISTORY_ROWS} of ${items.length} epochs (all of them: epochs.csv)` : `${items.length} epochs`;
    replace(historyBody, shown.map((item) => h("tr", { dataset: { epoch: item.epoch } },
      h("td", { class: "num" }, String(item.epoch)),
      h("td", { class: "num" }, num(item.learning_rate),
        item.drift ? h("span", { class: "drift", title: "the job trained with another rate" }, ` applied ${num(item.applied_learning_rate)}`) : null),
      h("td", {}, Object.entries(item.metrics || {}).map(([k, v]) => h("span", { class: "metric" }, `${k} ${num(v)}`))),
      h("td", { class: "reason" }, item.reason))));
  }

  function drawEvents() {
    replace(eventsBody, [...events].reverse().map((event) => h("tr", { dataset: { action: event.action } },
      h("td", {}, ago(event.at)),
      h("td", { class: "actor" }, event.actor),
      h("td", {}, event.action, event.change_id ? h("span", { class: "muted", title: `/v1/changes/${event.change_id}` }, ` (change ${event.change_id.slice(0, 8)})`) : null, " ",
        changeKinds(event).map((kind) => h("span", { class: "label" }, describe(kind, event)))))));
  }

  async function refreshJob() {
    job = await api("GET", jobPath(jobId));
    drawHeader();
    if (controls) drawControls();
  }

  async function reloadJobAndEvents() {
    [job, events] = await Promise.all([api("GET", jobPath(jobId)), allItems(`${jobPath(jobId)}/events`)]);
    // A job that ended reported its last epoch's end metrics after that epoch's decision, which
    // no later decision brings: read them once (a job stopped mid-epoch never has them).
    const last = history.get(job.last_epoch);
    if (job.status === "running") endRead = false; // when it ends again, read it again
    else if (!endRead && last && last.metrics == null) {
      endRead = true;
      await seriesItems(jobId, (items) => { for (const item of items) history.set(item.epoch, item); });
    }
    drawHeader();
    drawEvents();
    drawChart();
    if (controls) drawControls();
  }

  async function change(body) {
    message.textContent = "";
    for (const input of controls.querySelectorAll("[data-typed]")) delete input.dataset.typed;
    try {
      job = await api("PATCH", jobPath(jobId), { body });
      await reloadJobAndEvents();
    } catch (error) {
      message.textContent = problemText(error);
    }
  }

  function drawControls() {
    const running = job.status === "running";
    if (!running) {
      // A stopped (or ended) job takes no override, scale, switch or pause: the server refuses
      // them until it runs again, so only resuming (and, for an admin, deleting) is offered.
      replace(controls,
        h("h2", {}, "Controls"),
        h("p", { class: "muted", id: "controls-note" }, `The job is ${job.status}: resume it to change its rate or schedule.`),
        h("div", { class: "row" },
          h("button", { type: "button", id: "resume", onclick: () => change({ status: "running" }) }, "Resume (running)"),
          isAdmin() ? h("button", { type: "button", id: "delete", class: "danger", onclick: deleteJob }, "Delete") : null));
      return;
    }
    const overrideInput = h("input", { id: "override-value", type: "number", step: "any", min: "0", placeholder: num(job.learning_rate) });
    const scaleInput = h("input", { id: "scale-value", type: "number", step: "any", min: "0", value: String(job.scale) });
    const scheduleInput = h("input", { id: "switch-schedule", placeholder: "name or name@3", value: job.schedule.name || "" });
    const clockSelect = h("select", { id: "switch-clock" }, h("option", { value: "continue" }, "continue the clock"), h("option", { value: "restart" }, "restart the clock"));
    const cooldownLength = h("input", { id: "cooldown-length", type: "number", step: "1", min: "1", placeholder: "length" });
    const cooldownUnit = h("select", { id: "cooldown-unit", "aria-label": "cooldown unit" }, h("option", { value: "steps" }, "steps"), h("option", { value: "epochs" }, "epochs"));
    const cooldownShape = h("select", { id: "cooldown-shape", "aria-label": "cooldown shape" }, ["1-sqrt", "linear", "cosine"].map((shape) => h("option", { value: shape }, shape)));
    const cooldownMin = h("input", { id: "cooldown-min", type: "number", step: "any", min: "0", value: "0", "aria-label": "the rate it decays to" });
    const cooling = job.cooldown && !job.cooldown.finished;
    keepTyped(controls, [overrideInput, scaleInput, scheduleInput, clockSelect, cooldownLength, cooldownUnit, cooldownShape, cooldownMin], () => replace(controls,
      h("h2", {}, "Controls"),
      h("form", { class: "row", id: "override-form", onsubmit: (e) => { e.preventDefault(); change({ override: Number(overrideInput.value) }); } },
        h("label", { for: "override-value" }, "Override the rate"), overrideInput,
        h("button", { type: "submit", id: "override-apply" }, "Override"),
        job.override !== null ? h("button", { type: "button", id: "override-clear", onclick: () => change({ override: null }) }, "Clear override") : null),
      h("form", { class: "row", id: "scale-form", onsubmit: (e) => { e.preventDefault(); change({ scale: Number(scaleInput.value) }); } },
        h("label", { for: "scale-value" }, "Scale the schedule"), scaleInput, h("button", { type: "submit", id: "scale-apply" }, "Scale")),
      h("form", { class: "row", id: "switch-form", onsubmit: (e) => { e.preventDefault(); change({ schedule: scheduleInput.value.trim(), clock: clockSelect.value }); } },
        h("label", { for: "switch-schedule" }, "Switch schedule"), scheduleInput, clockSelect, h("button", { type: "submit", id: "switch-apply" }, "Switch")),
      h("form", { class: "row", id: "cooldown-form", onsubmit: (e) => {
        e.preventDefault();
        change({ cooldown: { [cooldownUnit.value]: Number(cooldownLength.value), shape: cooldownShape.value, min_learning_rate: Number(cooldownMin.value) } });
      } },
        h("label", { for: "cooldown-length" }, "Cool down over"), cooldownLength, cooldownUnit, cooldownShape,
        h("span", {}, "to"), cooldownMin,
        h("button", { type: "submit", id: "cooldown-apply" }, "Cool down"),
        cooling ? h("button", { type: "button", id: "cooldown-cancel", onclick: () => change({ cooldown: null }) }, "Cancel cooldown") : null),
      h("div", { class: "row" },
        h("button", { type: "button", id: "pause-toggle", onclick: () => change({ paused: !job.paused }) }, job.paused ? "Resume (unpause)" : "Pause"),
        h("button", { type: "button", id: "stop", class: "danger", onclick: () => change({ status: "stopped" }) }, "Stop"))));
  }

  async function deleteJob() {
    if (!window.confirm(`Delete job ${jobId} with its history? This cannot be undone.`)) return;
    try {
      await api("DELETE", jobPath(jobId));
      window.location.hash = "#/jobs";
    } catch (error) {
      message.textContent = problemText(error);
    }
  }

  await Promise.race([live, new Promise((resolve) => setTimeout(resolve, 3000))]);
  drawHeader();
  if (controls) drawControls();
  if (changedMeanwhile) await reloadJobAndEvents();
  // The first series page is drawn as soon as it arrives (a job past 100,000 epochs, or one
  // reporting many metrics, takes more than one); the rest once all of it is read.
  let pagesRead = 0;
  const addHistory = (items) => {
    for (const item of items) if (!history.has(item.epoch)) history.set(item.epoch, item);
    if (pagesRead++ === 0) drawChart();
  };
  const [, auditEvents] = await Promise.all([
    seriesItems(jobId, addHistory),
    allItems(`${jobPath(jobId)}/events`),
  ]);
  events = auditEvents;
  drawEvents();
  showPending();
  drawChart();
  return close;
}

/**
 * Redraw `container` with `draw()` (the job changed, perhaps by someone else) without losing what
 * the user is typing: a control in `fresh` whose old copy was edited keeps the edited value, and
 * the focus stays where it was.
 */
function keepTyped(container, fresh, draw) {
  const focused = document.activeElement && container.contains(document.activeElement) ? document.activeElement.id : null;
  for (const control of fresh) {
    const old = container.querySelector(`#${control.id}`);
    if (old && old.dataset.typed) {
      control.value = old.value;
      control.dataset.typed = "1";
    }
    control.addEventListener("input", () => { control.dataset.typed = "1"; });
    control.addEventListener("change", () => { control.dataset.typed = "1"; });
  }
  draw();
  if (focused) {
    const again = document.getElementById(focused);
    if (again) again.focus();
  }
}

function fact(name, value) {
  return h("div", { class: "fact" }, h("div", { class: "fact-name" }, name), h("div", { class: "fact-value" }, value));
}

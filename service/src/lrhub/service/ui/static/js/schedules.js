// Schedules: the list, a schedule's versions, and a preview editor that draws the curve as the
// spec is typed (POST /v1/preview), with a what-if metric sequence for plateau specs.

import { ApiError, allItems, api, canOperate } from "./api.js";
import { ago, h, replace } from "./dom.js";
import { rateChart, reductionMarks } from "./charts.js";

const PREVIEW_DELAY_MS = 250;
const EXAMPLE_SPEC = {
  type: "reduce_on_plateau",
  monitor: "val_loss",
  initial_learning_rate: 0.1,
  factor: 0.5,
  patience: 2,
};
const EXAMPLE_METRICS = "1.0, 0.8, 0.7, 0.7, 0.7, 0.69, 0.69, 0.69, 0.6, 0.6, 0.6, 0.6, 0.6";

/** The what-if values typed as "1.0, 0.8 0.7": numbers, or the text that is not one. */
export function parseMetricValues(text) {
  const parts = text.split(/[\s,]+/).filter(Boolean);
  const values = parts.map(Number);
  const bad = parts.find((part, i) => !Number.isFinite(values[i]));
  return bad === undefined ? { values } : { error: `'${bad}' is not a number` };
}

function versionsTable(name, versions, onPick) {
  return h("table", { class: "table", id: "versions-table" },
    h("thead", {}, h("tr", {}, h("th", { class: "num" }, "version"), h("th", {}, "type"), h("th", {}, "created"), h("th", {}, "description"), h("th", {}, ""))),
    h("tbody", {}, [...versions].reverse().map((version) => h("tr", { dataset: { version: version.version } },
      h("td", { class: "num" }, String(version.version)),
      h("td", {}, version.spec.type),
      h("td", {}, ago(version.created_at)),
      h("td", {}, version.description),
      h("td", {}, h("button", { type: "button", class: "link", onclick: () => onPick(version) }, "edit in preview"))))));
}

/** Render the schedules page (optionally with `name` open); answers a function that leaves it. */
export async function schedulesPage(main, name) {
  const schedules = await allItems("/v1/schedules");
  const detail = h("div", { class: "card", id: "schedule-detail" });
  const list = h("table", { class: "table", id: "schedules-table" },
    h("thead", {}, h("tr", {}, h("th", {}, "name"), h("th", { class: "num" }, "versions"), h("th", {}, "type"), h("th", {}, "description"))),
    h("tbody", {}, schedules.length === 0 ? h("tr", {}, h("td", { colspan: 4, class: "muted" }, "No schedules yet.")) : schedules.map((schedule) => h("tr", {},
      h("td", {}, h("a", { href: `#/schedules/${encodeURIComponent(schedule.name)}` }, schedule.name)),
      h("td", { class: "num" }, String(schedule.versions)),
      h("td", {}, schedule.spec.type),
      h("td", {}, schedule.description)))));

  const editor = previewEditor();
  replace(main, h("h1", {}, "Schedules"), h("div", { class: "columns" }, h("div", { class: "card" }, list), detail), editor.node);
  if (name) {
    const versions = await allItems(`/v1/schedules/${encodeURIComponent(name)}/versions`);
    replace(detail, h("h2", {}, name), versionsTable(name, versions, (version) => editor.load(version.spec, name)));
    if (versions.length) editor.load(versions[versions.length - 1].spec, name);
  } else {
    replace(detail, h("p", { class: "muted" }, "Pick a schedule to see its versions."));
  }
  return () => editor.close();
}

function previewEditor() {
  const specInput = h("textarea", { id: "spec", rows: 12, spellcheck: "false", "aria-describedby": "spec-errors" });
  specInput.value = JSON.stringify(EXAMPLE_SPEC, null, 2);
  const epochsInput = h("input", { id: "epochs", type: "number", min: "1", max: "10000", value: "30" });
  const metricNameInput = h("input", { id: "whatif-name", value: "val_loss", size: 12 });
  const metricsInput = h("input", { id: "whatif-values", value: EXAMPLE_METRICS, size: 48 });
  const errors = {
    spec: h("ul", { class: "field-errors", id: "spec-errors" }),
    epochs: h("ul", { class: "field-errors", id: "epochs-errors" }),
    metrics: h("ul", { class: "field-errors", id: "whatif-errors" }),
  };
  const chartBox = h("div", { class: "chart-box", id: "preview-chart" });
  const stopNote = h("p", { class: "muted", id: "preview-note" });
  const staleNote = h("p", { class: "stale-note", id: "preview-stale", role: "status" });
  const saveName = h("input", { id: "save-name", placeholder: "schedule name", size: 20 });
  const saveMessage = h("span", { id: "save-message", role: "status" });
  let timer = null;
  let inFlight = null;

  function clearErrors() {
    for (const list of Object.values(errors)) replace(list);
    for (const input of [specInput, epochsInput, metricsInput]) input.removeAttribute("aria-invalid");
  }

  /** Grey the curve drawn last (and say so) while the spec typed has errors: it is not that spec. */
  function markStale(stale) {
    const drawn = stale && chartBox.firstChild !== null;
    chartBox.classList.toggle("chart-stale", drawn);
    stopNote.classList.toggle("chart-stale", drawn);
    staleNote.textContent = drawn ? "This is the last valid curve, not the spec as typed: fix the errors to redraw it." : "";
  }

  /** Put each problem error at the field its loc names. */
  function showErrors(fieldErrors) {
    for (const { loc, msg } of fieldErrors) {
      const path = loc.replace(/^body\./, "");
      const [field, input] = path.startsWith("epochs") ? ["epochs", epochsInput]
        : path.startsWith("metrics") ? ["metrics", metricsInput] : ["spec", specInput];
      input.setAttribute("aria-invalid", "true");
      errors[field].append(h("li", { dataset: { loc: path } }, h("code", {}, path), ": ", msg));
    }
  }

  function request() {
    let spec;
    try {
      spec = JSON.parse(specInput.value);
    } catch (error) {
      return { error: [{ loc: "spec", msg: `not JSON: ${error.message}` }] };
    }
    const body = { spec, epochs: Number(epochsInput.value) };
    const isPlateau = spec && typeof spec === "object" && JSON.stringify(spec).includes("reduce_on_plateau");
    if (isPlateau && metricsInput.value.trim()) {
      const parsed = parseMetricValues(metricsInput.value);
      if (parsed.error) return { error: [{ loc: "metrics", msg: parsed.error }] };
      const metricName = metricNameInput.value.trim() || "val_loss";
      // Values past the last epoch drive nothing; the preview refuses them, the editor drops them.
      body.metrics = parsed.values.slice(0, body.epochs).map((value) => ({ [metricName]: value }));
    }
    return { body };
  }

  async function preview() {
    clearErrors();
    // An answer to an earlier spec must not redraw the curve after this one.
    if (inFlight) inFlight.abort();
    const { body, error } = request();
    if (error) {
      inFlight = null;
      showErrors(error);
      markStale(true);
      return;
    }
    inFlight = new AbortController();
    try {
      const answer = await api("POST", "/v1/preview", { body, signal: inFlight.signal });
      const epochs = answer.learning_rates.map((_, i) => i);
      const metric = body.metrics ? epochs.map((i) => (i < body.metrics.length ? Object.values(body.metrics[i])[0] : null)) : null;
      const marks = reductionMarks(epochs, answer.reductions, answer.reasons);
      replace(chartBox, rateChart({ epochs, rates: answer.learning_rates, metric, metricName: metricNameInput.value, marks, width: 600 }));
      stopNote.textContent = answer.stop_epoch === null ? "" : `The job would be told to stop at epoch ${answer.stop_epoch}.`;
      markStale(false);
    } catch (e) {
      if (e.name === "AbortError") return;
      if (e instanceof ApiError && e.errors.length) showErrors(e.errors);
      else errors.spec.append(h("li", {}, e.message));
      markStale(true);
    }
  }

  function schedulePreview() {
    clearTimeout(timer);
    timer = setTimeout(preview, PREVIEW_DELAY_MS);
  }
  for (const input of [specInput, epochsInput, metricNameInput, metricsInput]) input.addEventListener("input", schedulePreview);

  async function save() {
    saveMessage.textContent = "";
    clearErrors();
    try {
      const spec = JSON.parse(specInput.value);
      const answer = await api("PUT", `/v1/schedules/${encodeURIComponent(saveName.value.trim())}`, { body: { spec } });
      saveMessage.textContent = `saved ${answer.name}@${answer.version}`;
    } catch (e) {
      if (e instanceof ApiError && e.errors.length) showErrors(e.errors);
      else saveMessage.textContent = e.message;
    }
  }

  const node = h("div", { class: "card", id: "preview" },
    h("h2", {}, "Preview editor"),
    h("p", { class: "muted" }, "The curve is drawn as you type; nothing is stored until you save."),
    h("div", { class: "columns" },
      h("div", {},
        h("label", { for: "spec" }, "Spec (JSON)"), specInput, errors.spec,
        h("div", { class: "row" }, h("label", { for: "epochs" }, "epochs"), epochsInput), errors.epochs,
        h("fieldset", {}, h("legend", {}, "What-if metrics (plateau specs): the value observed at the end of each epoch"),
          h("div", { class: "row" }, h("label", { for: "whatif-name" }, "metric"), metricNameInput),
          h("div", { class: "row" }, h("label", { for: "whatif-values" }, "values"), metricsInput), errors.metrics),
        canOperate() ? h("form", { class: "row", id: "save-form", onsubmit: (e) => { e.preventDefault(); save(); } },
          saveName, h("button", { type: "submit" }, "Save as a new version"), saveMessage) : null),
      h("div", {}, staleNote, chartBox, stopNote)));
  schedulePreview();
  return {
    node,
    load(spec, name) {
      specInput.value = JSON.stringify(spec, null, 2);
      saveName.value = name;
      schedulePreview();
    },
    close() {
      clearTimeout(timer);
      if (inFlight) inFlight.abort();
    },
  };
}

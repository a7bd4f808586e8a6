// Building DOM nodes. Every string becomes a text node or an attribute value, never markup:
// job ids, labels and metric names come from training jobs and are shown as text.

/** An element with attributes/properties and children (strings become text nodes). */
export function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  setProps(node, props);
  append(node, children);
  return node;
}

const SVG_NS = "http://www.w3.org/2000/svg";

/** An SVG element with attributes and children. */
export function s(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined) node.setAttribute(name, String(value));
  }
  append(node, children);
  return node;
}

function setProps(node, props) {
  for (const [name, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name === "value" || name === "checked" || name === "disabled") node[name] = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace all children of `node`. */
export function replace(node, ...children) {
  node.replaceChildren();
  append(node, children);
}

/** A rate or metric value, short. */
export function num(value) {
  if (value === null || value === undefined) return "—";
  if (typeof value !== "number") return String(value);
  if (value === 0) return "0";
  const magnitude = Math.abs(value);
  return magnitude >= 1e4 || magnitude < 1e-3 ? value.toExponential(3) : String(+value.toPrecision(4));
}

/** "3 min ago" for an ISO time (and the exact time as a tooltip). */
export function ago(iso) {
  if (!iso) return h("span", { class: "muted" }, "never");
  const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  const text = seconds < 60 ? `${Math.round(seconds)} s ago`
    : seconds < 3600 ? `${Math.round(seconds / 60)} min ago`
    : seconds < 86400 ? `${Math.round(seconds / 3600)} h ago`
    : `${Math.round(seconds / 86400)} d ago`;
  return h("time", { datetime: iso, title: iso }, text);
}

/** A small status/marker badge. */
export function badge(text, kind) {
  return h("span", { class: `badge badge-${kind}` }, text);
}

// /v1/stream read with fetch(): EventSource cannot send an Authorization header. The SSE text
// is parsed here; a dropped connection reconnects with Last-Event-ID, so nothing is missed.

import { apiUrl, authHeaders } from "./api.js";

const RECONNECT_DELAY_MS = 1000;

/** Parse SSE text as it arrives: `feed(chunk)` calls `onEvent({id, event, data})` per event. */
export function sseParser(onEvent) {
  let buffer = "";
  let pending = { id: null, event: null, data: [] };
  return function feed(chunk) {
    buffer += chunk;
    let end;
    while ((end = buffer.indexOf("\n")) >= 0) {
      let line = buffer.slice(0, end);
      buffer = buffer.slice(end + 1);
      if (line.endsWith("\r")) line = line.slice(0, -1);
      if (line === "") {
        if (pending.data.length) {
          onEvent({ id: pending.id, event: pending.event || "message", data: pending.data.join("\n") });
        }
        pending = { id: null, event: null, data: [] };
        continue;
      }
      if (line.startsWith(":")) continue; // a comment: the keep-alive
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "data") pending.data.push(value);
      else if (field === "id") pending.id = value;
      else if (field === "event") pending.event = value;
    }
  };
}

/**
 * Follow the stream with `query` ({job} or {selector}). `onEvent(kind, data, id)` gets each
 * event's JSON; `onState("live" | "reconnecting")` the connection's state. Returns `close()`.
 */
export function follow(query, onEvent, onState = () => {}) {
  let closed = false;
  let lastEventId = null;
  let controller = null;

  async function connectOnce() {
    controller = new AbortController();
    const headers = { Accept: "text/event-stream", ...authHeaders() };
    if (lastEventId !== null) headers["Last-Event-ID"] = lastEventId;
    const response = await fetch(apiUrl("/v1/stream", query), { headers, signal: controller.signal });
    if (!response.ok) throw new Error(`the stream answered ${response.status}`);
    onState("live");
    const feed = sseParser(({ id, event, data }) => {
      if (id !== null) lastEventId = id;
      onEvent(event, JSON.parse(data), id);
    });
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      feed(value);
    }
  }

  (async () => {
    while (!closed) {
      try {
        await connectOnce();
      } catch (error) {
        if (closed) return;
      }
      if (closed) return;
      onState("reconnecting");
      await new Promise((resolve) => setTimeout(resolve, RECONNECT_DELAY_MS));
    }
  })();

  return function close() {
    closed = true;
    if (controller) controller.abort();
  };
}

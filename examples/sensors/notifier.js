// notifier: a JavaScript component of wit/airssys-component.wit
// (componentize-js).
//
// Subscribed to alerts.>: for each alert ("kitchen high 31.5" on
// alerts.kitchen) it asks `advisor` (Python, configuration `advisor`) what to
// do, then publishes a notice on notices.<room>, multicodec JSON
// {room, level, celsius, advice}. A request "count" is answered with the
// number of notices published, as text. A severe advice (the advisor says
// "evacuate" or "may freeze") is also escalated: `send` "escalate <room>"
// to the advisor, fire and forget. When the advisor cannot answer, the
// alert is a handler error (code 2): dead-lettered, the instance kept. A
// request "crash" throws an Error instead of a {code, reason} object: the
// bindings cannot map it, the instance traps and is restarted afresh.
import { publish, request, send } from "airssys:component/messaging@0.1.0";
import { log } from "airssys:component/logging@0.1.0";
import { encodeJson } from "../../sdk/js/airssys-payload.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

// The instance's state: a restart starts from these values again.
let advisor = "advisor";
let timeoutMs = 0;
let published = 0;

/** A handler error: the bindings turn a thrown object into `handler-error`. */
function reject(code, reason) {
  return { code, reason };
}

export function init(config) {
  for (const [key, value] of config) {
    if (key === "advisor") {
      advisor = value;
    } else if (key === "timeout_ms") {
      timeoutMs = Number.parseInt(value, 10);
      // A failed init fails the start; the supervisor retries.
      if (!(timeoutMs >= 0)) throw `notifier: timeout_ms is not a number: ${value}`;
    }
  }
}

export function handleMessage(message) {
  const text = decoder.decode(message.payload);
  if (message.subject?.startsWith("alerts.")) {
    const [room, level, value] = text.split(" ");
    let advice;
    try {
      advice = decoder.decode(request(advisor, message.payload, timeoutMs));
    } catch (e) {
      // A host error arrives as an exception carrying the host-error variant.
      throw reject(2, `${advisor} gave no advice for ${JSON.stringify(text)}: ${JSON.stringify(e.payload ?? String(e))}`);
    }
    publish(`notices.${room}`, encodeJson({ room, level, celsius: Number.parseFloat(value), advice }));
    published += 1;
    log("info", `notice ${published}: ${room} ${level} ${value}: ${advice}`);
    if (advice.startsWith("evacuate") || advice.endsWith("may freeze")) {
      try {
        send(advisor, encoder.encode(`escalate ${room}`));
      } catch (e) {
        throw reject(3, `could not escalate to ${advisor}: ${JSON.stringify(e.payload ?? String(e))}`);
      }
    }
    return undefined;
  }
  if (message.correlationId !== undefined && text === "count") {
    return encoder.encode(String(published));
  }
  if (text === "crash") {
    throw new Error("notifier: asked to crash");
  }
  throw reject(1, `notifier does not understand ${JSON.stringify(text)}`);
}

export function health() {
  return { tag: "healthy" };
}

export function cleanup() {
  log("info", `notifier: stopping; ${published} notice(s) published`);
}

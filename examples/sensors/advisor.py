"""advisor: a Python component of wit/airssys-component.wit (componentize-py).

- A request "<room> high|low <celsius>" (an alert, as `aggregator`
  publishes it) is answered with advice for that room, as text: how far past
  the limit the reading is decides between a mild and a severe advice
  (configuration `severe`, in degrees, default 5).
- Subscribed to notices.>, it counts the notices `notifier` published per
  room; a request "report" answers the counts as multicodec JSON, e.g.
  {"kitchen": 4, "porch": 5}.
- A message (not a request) "escalate <room>", which `notifier` sends for
  a severe advice, is counted per room; a request "escalations" answers
  those counts as multicodec JSON.
- Anything else is a handler error (code 1): the message is dead-lettered
  as `rejected` and the instance keeps its state.
- A request "crash" raises an exception the bindings do not map (only
  `Err(HandlerError)` is a handler error): the instance traps and its
  supervisor restarts it with fresh state, as any trap.
"""

import airssys_payload
import wit_world
from componentize_py_types import Err
from wit_world.imports import logging, types

# componentize-py makes a new `WitWorld` for each call of an export, so the
# component's state lives at module level, not on `self`. It lives as long
# as the instance: a restart starts from these values again.
limits = {"low": 0.0, "high": 30.0}
severe = 5.0
notices = {}
escalations = {}


def reject(reason: str):
    """A handler error: dead-lettered with code 1, the instance kept."""
    return Err(types.HandlerError(code=1, reason=reason))


def advise(room: str, level: str, celsius: float) -> str:
    if level == "high":
        past = celsius - limits["high"]
        return f"evacuate the {room}" if past >= severe else f"open a window in the {room}"
    past = limits["low"] - celsius
    return f"the {room} pipes may freeze" if past >= severe else f"close the {room} door"


class WitWorld(wit_world.WitWorld):
    def init(self, config):
        global severe
        settings = dict(config)
        try:
            for key in limits:
                limits[key] = float(settings.get(key, limits[key]))
            severe = float(settings.get("severe", severe))
        except ValueError as e:
            # A failed init fails the start; the supervisor retries.
            raise Err(f"advisor: bad configuration: {e}")

    def handle_message(self, message):
        if message.subject is not None and message.subject.startswith("notices."):
            try:
                room = airssys_payload.decode_json(message.payload)["room"]
            except (airssys_payload.PayloadError, KeyError, TypeError) as e:
                raise reject(f"a notice that is not {{room, ...}} JSON: {e}")
            notices[room] = notices.get(room, 0) + 1
            return None
        text = message.payload.decode(errors="replace")
        if message.correlation_id is None:
            if text.startswith("escalate "):
                room = text[len("escalate "):]
                escalations[room] = escalations.get(room, 0) + 1
                logging.log(types.LogLevel.WARN, f"escalated: {room}")
                return None
            raise reject(f"advisor takes requests and escalations; got a message {text!r}")
        if text == "report":
            return airssys_payload.encode_json(notices)
        if text == "escalations":
            return airssys_payload.encode_json(escalations)
        if text == "crash":
            raise RuntimeError("advisor: asked to crash")
        parts = text.split()
        if len(parts) != 3 or parts[1] not in ("high", "low"):
            raise reject(f"not '<room> high|low <celsius>': {text!r}")
        try:
            celsius = float(parts[2])
        except ValueError:
            raise reject(f"not a temperature: {parts[2]!r}")
        advice = advise(parts[0], parts[1], celsius)
        logging.log(types.LogLevel.INFO, f"advice for {parts[0]} at {celsius}: {advice}")
        return advice.encode()

    def health(self):
        return types.HealthStatus_Healthy()

    def cleanup(self):
        logging.log(types.LogLevel.INFO, f"advisor: stopping; notices {notices}")

/*
 * airssys.h: the airssys core ABI for guests written in C.
 *
 * Declares the host imports of module `airssys`, their return codes, the
 * message header the host writes before each `handle-message` call, and a
 * few freestanding helpers. Specified in docs/core-abi.md; how to build a
 * guest with it: docs/guests.md.
 *
 * Freestanding: no libc, no WASI. Build with
 *   clang --target=wasm32-unknown-unknown -nostdlib -Wl,--no-entry ...
 * The host links only module `airssys` into core modules, so a guest that
 * imports anything else (for example WASI's fd_write through printf) is
 * refused at load.
 */
#ifndef AIRSSYS_H
#define AIRSSYS_H

#include <stddef.h>
#include <stdint.h>

#define AIRSSYS_IMPORT(name) __attribute__((import_module("airssys"), import_name(name)))
/* Exports a function under an ABI name: AIRSSYS_EXPORT("handle-message"). */
#define AIRSSYS_EXPORT(name) __attribute__((export_name(name)))

/* Return codes of the host imports (docs/core-abi.md, "Error codes"). */
#define AIRSSYS_OK 0
#define AIRSSYS_DENIED (-1)           /* not in the component's allow-list */
#define AIRSSYS_NO_SUCH_TARGET (-2)   /* no component with that id */
#define AIRSSYS_MAILBOX_FULL (-3)     /* the target's mailbox is full */
#define AIRSSYS_TOO_LARGE (-4)        /* payload over max_message_bytes */
#define AIRSSYS_TIMEOUT (-5)          /* no reply within the request timeout */
#define AIRSSYS_INVALID_ARGUMENT (-6) /* bad pointer/length, not UTF-8, bad subject */
#define AIRSSYS_ALREADY_REPLIED (-7)  /* reply called twice for one message */
#define AIRSSYS_NOT_REPLYING (-8)     /* reply outside handle-message/health */
#define AIRSSYS_UNAVAILABLE (-9)      /* the host cannot perform the call now */
#define AIRSSYS_NOT_FOUND (-10)       /* config_get: no such key */

/* `log` levels. */
#define AIRSSYS_LOG_TRACE 0
#define AIRSSYS_LOG_DEBUG 1
#define AIRSSYS_LOG_INFO 2
#define AIRSSYS_LOG_WARN 3
#define AIRSSYS_LOG_ERROR 4

/* `health` statuses. */
#define AIRSSYS_HEALTHY 0
#define AIRSSYS_DEGRADED 1
#define AIRSSYS_UNHEALTHY 2

/* Host imports. Pointers are offsets into this guest's memory. */

/* Sends `payload` to component `target`; never waits. 0 or an error code. */
AIRSSYS_IMPORT("send")
int32_t airssys_send(const char *target, int32_t target_len, const void *payload,
                     int32_t payload_len);

/* Publishes `payload` on a concrete subject (`alerts.kitchen`). 0 or an error code. */
AIRSSYS_IMPORT("publish")
int32_t airssys_publish(const char *subject, int32_t subject_len, const void *payload,
                        int32_t payload_len);

/* Requests `target` and waits (the guest is suspended) up to `timeout_ms`
 * (<= 0: the component's maximum). Copies at most `reply_cap` bytes of the
 * reply to `reply`; returns the reply's full length (> reply_cap: truncated)
 * or an error code. */
AIRSSYS_IMPORT("request")
int32_t airssys_request(const char *target, int32_t target_len, const void *payload,
                        int32_t payload_len, int32_t timeout_ms, void *reply, int32_t reply_cap);

/* Replies to the message being handled (or gives a health reason), once. */
AIRSSYS_IMPORT("reply")
int32_t airssys_reply(const void *payload, int32_t len);

/* Logs through the host's tracing, at one of the AIRSSYS_LOG_* levels. */
AIRSSYS_IMPORT("log")
void airssys_log(int32_t level, const char *message, int32_t len);

/* Copies this component's id (at most `cap` bytes); returns its full length. */
AIRSSYS_IMPORT("self_id")
int32_t airssys_self_id(char *buf, int32_t cap);

/* Copies the value of configuration `key` (at most `cap` bytes); returns its
 * full length, or AIRSSYS_NOT_FOUND. */
AIRSSYS_IMPORT("config_get")
int32_t airssys_config_get(const char *key, int32_t key_len, char *buf, int32_t cap);

/* Monitors component `target` (ABI revision 2; allowed by the `send`
 * allow-list): returns the monitor id (> 0) or an error code. When the
 * target's incarnation ends, a message with subject AIRSSYS_DOWN_SUBJECT
 * arrives, its payload multicodec JSON (0x80 0x04, then
 * {"monitor":id,"component":"...","reason":"...","detail":"..."}). */
AIRSSYS_IMPORT("monitor")
int64_t airssys_monitor(const char *target, int32_t target_len);

/* Removes monitor `id`: 1 if this instance held it (no down follows), 0
 * otherwise. */
AIRSSYS_IMPORT("demonitor")
int32_t airssys_demonitor(int64_t id);

/* Links this component with component `target`, both ways (ABI revision 3;
 * allowed by the `send` allow-list): 0 or an error code (AIRSSYS_DENIED,
 * AIRSSYS_NO_SUCH_TARGET, AIRSSYS_UNAVAILABLE for one on another host).
 * An abnormal end of either incarnation ends the other's, unless it traps
 * exits (spec `trap_exits = true`): then a message with subject
 * AIRSSYS_EXIT_SUBJECT arrives, its payload multicodec JSON (0x80 0x04,
 * then {"component":"...","reason":"...","detail":"..."}). */
AIRSSYS_IMPORT("link")
int32_t airssys_link(const char *target, int32_t target_len);

/* Breaks the link with `target`: 1 if there was one (no exit of it
 * follows), 0 if not, or an error code. */
AIRSSYS_IMPORT("unlink")
int32_t airssys_unlink(const char *target, int32_t target_len);

/* Subscribes this component to topic `pattern` (ABI revision 4; allowed
 * inside its subscribe grants, AIRSSYS_DENIED otherwise): 0 or an error
 * code. The subscription is the component's: it survives restarts. */
AIRSSYS_IMPORT("subscribe")
int32_t airssys_subscribe(const char *pattern, int32_t pattern_len);

/* Ends the subscription to exactly `pattern`: 1 if it had it, 0 if not,
 * or an error code. Nothing published after the call arrives. */
AIRSSYS_IMPORT("unsubscribe")
int32_t airssys_unsubscribe(const char *pattern, int32_t pattern_len);

/* The subject of a down notification (docs/core-abi.md, "Monitors"). */
#define AIRSSYS_DOWN_SUBJECT "_airssys.down"
/* The subject of a linked component's end, for one that traps exits. */
#define AIRSSYS_EXIT_SUBJECT "_airssys.exit"

/* Monotonic milliseconds / nanoseconds since the host's engine started. */
AIRSSYS_IMPORT("now_ms")
int64_t airssys_now_ms(void);
AIRSSYS_IMPORT("now_nanos")
int64_t airssys_now_nanos(void);

/* The message header (docs/core-abi.md, "Delivering a message"). */
#define AIRSSYS_HEADER_LEN 24
#define AIRSSYS_FLAG_CORRELATION 1u

/* One message, pointing into the host's message buffer: valid only during
 * the `handle-message` call that received it. */
typedef struct airssys_message {
    uint32_t flags;          /* bit 0: a request (correlation_id is set) */
    uint64_t correlation_id; /* 0 when absent */
    const char *sender;      /* sender_len bytes of UTF-8; 0 bytes: from the host */
    uint32_t sender_len;
    const char *subject;     /* subject_len bytes; 0 bytes: not from a topic */
    uint32_t subject_len;
    const uint8_t *payload;
    uint32_t payload_len;
} airssys_message;

static inline uint32_t airssys_u32le(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Parses the message at `buf` (`len` bytes, as `handle-message` got them).
 * Returns AIRSSYS_OK, or AIRSSYS_INVALID_ARGUMENT if `len` is shorter than
 * the header or than the lengths it states. */
static inline int32_t airssys_message_parse(const uint8_t *buf, int32_t len,
                                            airssys_message *m) {
    if (len < AIRSSYS_HEADER_LEN) {
        return AIRSSYS_INVALID_ARGUMENT;
    }
    m->flags = airssys_u32le(buf);
    m->sender_len = airssys_u32le(buf + 4);
    m->subject_len = airssys_u32le(buf + 8);
    m->payload_len = airssys_u32le(buf + 12);
    m->correlation_id = (uint64_t)airssys_u32le(buf + 16) | (uint64_t)airssys_u32le(buf + 20) << 32;
    uint64_t needed = (uint64_t)AIRSSYS_HEADER_LEN + m->sender_len + m->subject_len + m->payload_len;
    if (needed > (uint64_t)len) {
        return AIRSSYS_INVALID_ARGUMENT;
    }
    m->sender = (const char *)buf + AIRSSYS_HEADER_LEN;
    m->subject = m->sender + m->sender_len;
    m->payload = (const uint8_t *)m->subject + m->subject_len;
    return AIRSSYS_OK;
}

/* Length of a NUL-terminated string (no libc here). */
static inline int32_t airssys_strlen(const char *s) {
    int32_t n = 0;
    while (s[n] != '\0') {
        n++;
    }
    return n;
}

/* Logs a NUL-terminated string. */
static inline void airssys_log_str(int32_t level, const char *message) {
    airssys_log(level, message, airssys_strlen(message));
}

/* Replies with a NUL-terminated string. */
static inline int32_t airssys_reply_str(const char *text) {
    return airssys_reply(text, airssys_strlen(text));
}

/* Multicodec payloads: a payload may start with a prefix naming how its
 * body is encoded (the host's airssys_wasm::codec, `airssys ctl --encode`,
 * the Rust, Python and JavaScript SDK helpers):
 *   JSON  code 0x0200  prefix 80 04
 *   CBOR  code 0x51    prefix 51
 * The header does not serialise: write the JSON text (or CBOR bytes) after
 * the prefix airssys_payload_prefix writes, and find the body of a received
 * payload with airssys_payload_body. */
#define AIRSSYS_CODEC_NONE 0
#define AIRSSYS_CODEC_JSON 1
#define AIRSSYS_CODEC_CBOR 2

/* Writes `codec`'s prefix at `out` (room for 2 bytes); returns its length
 * (0 for AIRSSYS_CODEC_NONE or an unknown codec). */
static inline int32_t airssys_payload_prefix(int32_t codec, uint8_t *out) {
    if (codec == AIRSSYS_CODEC_JSON) {
        out[0] = 0x80;
        out[1] = 0x04;
        return 2;
    }
    if (codec == AIRSSYS_CODEC_CBOR) {
        out[0] = 0x51;
        return 1;
    }
    return 0;
}

/* The codec `payload`'s prefix names (AIRSSYS_CODEC_NONE: plain text or
 * bytes); *body and *body_len are set to what follows the prefix (the whole
 * payload when there is none). */
static inline int32_t airssys_payload_body(const uint8_t *payload, int32_t len,
                                           const uint8_t **body, int32_t *body_len) {
    int32_t codec = AIRSSYS_CODEC_NONE, skip = 0;
    if (len >= 2 && payload[0] == 0x80 && payload[1] == 0x04) {
        codec = AIRSSYS_CODEC_JSON;
        skip = 2;
    } else if (len >= 1 && payload[0] == 0x51) {
        codec = AIRSSYS_CODEC_CBOR;
        skip = 1;
    }
    *body = payload + skip;
    *body_len = len - skip;
    return codec;
}

/* Sizing the message buffer.
 *
 * The host writes each message as AIRSSYS_HEADER_LEN bytes of header, the
 * sender's id, the subject and the payload, and refuses a payload over the
 * component's `max_message_bytes` before the guest sees it. A buffer of
 * AIRSSYS_MESSAGE_BUFFER_SIZE bytes holds any message the component can
 * be given under that limit:
 *
 *   AIRSSYS_MAX_MESSAGE_BYTES   the limit the component runs under; default
 *                               1 MiB, the host's default `max_message_bytes`.
 *                               Build with -DAIRSSYS_MAX_MESSAGE_BYTES=1024
 *                               when the manifest sets a lower limit
 *                               (`limits = { max_message_bytes = "1KiB" }`).
 *   AIRSSYS_ENVELOPE_BYTES      header + sender id + subject: 1024 (a sender
 *                               id and subject of up to 1000 bytes together).
 *
 * The buffer is zero-initialised memory: it adds nothing to the .wasm file,
 * and pages the host never writes to cost address space, not RAM. It does
 * count against `max_memory` (default 16 MiB). */
#ifndef AIRSSYS_MAX_MESSAGE_BYTES
#define AIRSSYS_MAX_MESSAGE_BYTES (1024 * 1024)
#endif
#ifndef AIRSSYS_ENVELOPE_BYTES
#define AIRSSYS_ENVELOPE_BYTES 1024
#endif
#define AIRSSYS_MESSAGE_BUFFER_SIZE (AIRSSYS_MAX_MESSAGE_BYTES + AIRSSYS_ENVELOPE_BYTES)

/* Defines the `alloc` export over one static buffer of `size` bytes. The
 * host keeps the buffer `alloc` gives it and reuses it for every message
 * that fits, so a guest needs no heap for its messages. A larger message
 * gets 0, which fails the instance (an ABI violation, and a restart): use
 * AIRSSYS_STATIC_ALLOC(AIRSSYS_MESSAGE_BUFFER_SIZE), sized from the limit
 * above, rather than a number of your own. */
#define AIRSSYS_STATIC_ALLOC(size)                                                                 \
    static uint8_t airssys_message_buffer[(size)] __attribute__((aligned(8)));                     \
    AIRSSYS_EXPORT("alloc") int32_t airssys_alloc(int32_t len) {                                   \
        if (len < 0 || len > (int32_t)sizeof airssys_message_buffer) {                             \
            return 0;                                                                              \
        }                                                                                          \
        return (int32_t)(uintptr_t)airssys_message_buffer;                                         \
    }

#endif /* AIRSSYS_H */

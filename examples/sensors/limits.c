/*
 * limits: a request/reply service in C, against the core ABI
 * (sdk/c/airssys.h). Answers `<room> <celsius>` (`kitchen 31.5`) with
 * `ok`, `high` or `low`, against the thresholds of its configuration:
 * `low` and `high`, in degrees Celsius (`config = { low = "0", high = "30" }`
 * in airssys.toml; defaults 0 and 30). A threshold that is not a number
 * fails `init`, so the component does not start.
 *
 * Freestanding: no libc, no heap. Messages land in a static buffer.
 * `checks` (exported, for `airssys invoke` and tests) counts the answers.
 */
#include "airssys.h"

/* Room for any message under max_message_bytes (default 1 MiB; build with
 * -DAIRSSYS_MAX_MESSAGE_BYTES=... for a component run under another limit). */
AIRSSYS_STATIC_ALLOC(AIRSSYS_MESSAGE_BUFFER_SIZE)

/* Handler codes. */
#define NOT_A_CHECK 1

/* Thresholds in tenths of a degree Celsius. */
static int64_t low_tenths = 0;
static int64_t high_tenths = 300;
static int64_t checks_answered = 0;

/* A decimal number (`-2`, `21.5`) in tenths; extra decimals are cut.
 * Returns 0 on success, -1 if `text` is not a number. */
static int parse_tenths(const char *text, int32_t len, int64_t *out) {
    int32_t i = 0;
    int negative = 0;
    int64_t value = 0;
    int32_t digits = 0;
    if (i < len && text[i] == '-') {
        negative = 1;
        i++;
    }
    for (; i < len && text[i] >= '0' && text[i] <= '9'; i++, digits++) {
        if (digits == 12) {
            return -1;
        }
        value = value * 10 + (text[i] - '0');
    }
    if (digits == 0) {
        return -1;
    }
    value *= 10;
    if (i < len && text[i] == '.') {
        i++;
        if (i < len && text[i] >= '0' && text[i] <= '9') {
            value += text[i] - '0';
            i++;
        }
        while (i < len && text[i] >= '0' && text[i] <= '9') {
            i++;
        }
    }
    if (i != len) {
        return -1;
    }
    *out = negative ? -value : value;
    return 0;
}

/* Reads threshold `key` into `*tenths`, leaving the default if absent.
 * Returns 0, or 1 if the value is not a number (or too long to be one). */
static int threshold(const char *key, int64_t *tenths) {
    char value[32];
    int32_t len = airssys_config_get(key, airssys_strlen(key), value, sizeof value);
    if (len == AIRSSYS_NOT_FOUND) {
        return 0;
    }
    if (len < 0 || len > (int32_t)sizeof value || parse_tenths(value, len, tenths) != 0) {
        airssys_log_str(AIRSSYS_LOG_ERROR, "limits: a threshold is not a number");
        return 1;
    }
    return 0;
}

AIRSSYS_EXPORT("init")
int32_t init(void) {
    if (threshold("low", &low_tenths) != 0 || threshold("high", &high_tenths) != 0) {
        return 1;
    }
    airssys_log_str(AIRSSYS_LOG_INFO, "limits ready");
    return 0;
}

AIRSSYS_EXPORT("handle-message")
int32_t handle_message(const uint8_t *buf, int32_t len) {
    airssys_message m;
    if (airssys_message_parse(buf, len, &m) != AIRSSYS_OK) {
        return AIRSSYS_INVALID_ARGUMENT;
    }
    /* The value is what follows the last space. */
    const char *text = (const char *)m.payload;
    int32_t start = (int32_t)m.payload_len;
    while (start > 0 && text[start - 1] != ' ') {
        start--;
    }
    int64_t tenths;
    if (parse_tenths(text + start, (int32_t)m.payload_len - start, &tenths) != 0) {
        return NOT_A_CHECK;
    }
    const char *verdict = "ok";
    if (tenths > high_tenths) {
        verdict = "high";
    } else if (tenths < low_tenths) {
        verdict = "low";
    }
    int32_t replied = airssys_reply_str(verdict);
    if (replied != AIRSSYS_OK) {
        return replied;
    }
    checks_answered++;
    return 0;
}

AIRSSYS_EXPORT("health")
int32_t health(void) {
    return AIRSSYS_HEALTHY;
}

AIRSSYS_EXPORT("checks")
int64_t checks(void) {
    return checks_answered;
}

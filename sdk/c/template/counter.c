/* counter: counts the messages it handles and answers each with the count;
 * `boom` traps, so the supervisor restarts it (from 0). */
#include "airssys.h"

/* Room for any message under max_message_bytes (default 1 MiB). */
AIRSSYS_STATIC_ALLOC(AIRSSYS_MESSAGE_BUFFER_SIZE)

static uint64_t count = 0;

/* Writes `n` in decimal at `out` (room for 20 digits); returns the length. */
static int32_t decimal(uint64_t n, char *out) {
    char digits[20];
    int32_t len = 0;
    do {
        digits[len++] = (char)('0' + n % 10);
        n /= 10;
    } while (n != 0);
    for (int32_t i = 0; i < len; i++) {
        out[i] = digits[len - 1 - i];
    }
    return len;
}

AIRSSYS_EXPORT("handle-message")
int32_t handle_message(const uint8_t *buf, int32_t len) {
    airssys_message m;
    if (airssys_message_parse(buf, len, &m) != AIRSSYS_OK) {
        return AIRSSYS_INVALID_ARGUMENT;
    }
    if (m.payload_len == 4 && m.payload[0] == 'b' && m.payload[1] == 'o' && m.payload[2] == 'o' &&
        m.payload[3] == 'm') {
        __builtin_trap();
    }
    count++;
    char text[20];
    return airssys_reply(text, decimal(count, text));
}

/*
 * down_watcher: a Component Model guest in C (wit-bindgen's C bindings of
 * wit/airssys-component.wit, wasi-libc) that monitors other components
 * through the world's `messaging.monitor` import and reacts to their
 * downs, for tests/guests.rs.
 *
 * Requests (the payload is a command, the reply text):
 *
 *   watch ID    monitors component ID: `ok <monitor id>`, or `err <n>`
 *               with the host-error case (4: denied by the allow-list)
 *   downs       the downs received so far, `<component> <reason>` each,
 *               `;`-separated
 *
 * A message with subject `_airssys.down` (a down: the payload is JSON
 * with the multicodec JSON prefix 0x80 0x04, docs/core-abi.md) is
 * recorded and answered with a reaction: the watcher publishes
 * `<component> <reason>` on `watch.down`, and after a `failed` down (the
 * component was restarted: a restart is a down and ends the monitor) it
 * monitors the same component again, to watch its next incarnation.
 *
 * Built by examples/sensors/build.sh into build/down_watcher.component.wasm.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "component.h"

#define DOWN_SUBJECT "_airssys.down"
#define TEXT_MAX 1024

/* The reply being built. */
static char reply[TEXT_MAX];
/* Every down received, `<component> <reason>;...`. */
static char downs[TEXT_MAX];

/* Monitors `id` (`len` bytes); writes `ok <monitor id>` or `err <case>`
 * into `reply`. */
static void watch(const char *id, size_t len) {
    component_string_t target = {(uint8_t *)id, len};
    uint64_t monitor;
    airssys_component_messaging_host_error_t error;
    if (airssys_component_messaging_monitor(&target, &monitor, &error)) {
        snprintf(reply, sizeof reply, "ok %llu", (unsigned long long)monitor);
    } else {
        snprintf(reply, sizeof reply, "err %u", (unsigned)error.tag);
        airssys_component_messaging_host_error_free(&error);
    }
}

/* Copies the string value of `"key":"..."` in the JSON `json` (`len`
 * bytes) into `out` (at most `cap - 1` bytes and a NUL); 0 when absent.
 * The host writes the notice compactly and never escapes a component id
 * or a reason label, so a plain scan is enough for those two keys. */
static size_t json_string(const char *json, size_t len, const char *key, char *out, size_t cap) {
    char pattern[32];
    int plen = snprintf(pattern, sizeof pattern, "\"%s\":\"", key);
    for (size_t i = 0; plen > 0 && i + (size_t)plen <= len; i++) {
        if (memcmp(json + i, pattern, (size_t)plen) != 0) {
            continue;
        }
        size_t start = i + (size_t)plen, n = 0;
        while (start + n < len && json[start + n] != '"' && n + 1 < cap) {
            out[n] = json[start + n];
            n++;
        }
        out[n] = '\0';
        return n;
    }
    out[0] = '\0';
    return 0;
}

/* A down arrived: record it, publish it, and watch a restarted component
 * again. */
static void on_down(const component_list_u8_t *payload) {
    /* Skip the multicodec JSON prefix. */
    if (payload->len < 2 || payload->ptr[0] != 0x80 || payload->ptr[1] != 0x04) {
        return;
    }
    const char *json = (const char *)payload->ptr + 2;
    size_t len = payload->len - 2;
    char component[256], reason[32], line[300];
    size_t component_len = json_string(json, len, "component", component, sizeof component);
    json_string(json, len, "reason", reason, sizeof reason);
    int n = snprintf(line, sizeof line, "%s %s", component, reason);
    size_t used = strlen(downs);
    snprintf(downs + used, sizeof downs - used, "%s%s", used > 0 ? ";" : "", line);

    if (strcmp(reason, "failed") == 0) {
        watch(component, component_len);
    }
    component_string_t subject = {(uint8_t *)"watch.down", strlen("watch.down")};
    component_list_u8_t text = {(uint8_t *)line, (size_t)n};
    airssys_component_messaging_host_error_t error;
    if (!airssys_component_messaging_publish(&subject, &text, &error)) {
        airssys_component_messaging_host_error_free(&error);
    }
}

bool exports_component_init(component_list_tuple2_string_string_t *config, component_string_t *err) {
    (void)err;
    component_list_tuple2_string_string_free(config);
    return true;
}

bool exports_component_handle_message(component_message_t *message, component_option_list_u8_t *ret,
                                      component_handler_error_t *err) {
    (void)err;
    ret->is_some = false;
    if (message->subject.is_some && message->subject.val.len == strlen(DOWN_SUBJECT) &&
        memcmp(message->subject.val.ptr, DOWN_SUBJECT, strlen(DOWN_SUBJECT)) == 0) {
        on_down(&message->payload);
        component_message_free(message);
        return true;
    }
    char command[TEXT_MAX];
    size_t len = message->payload.len < TEXT_MAX - 1 ? message->payload.len : TEXT_MAX - 1;
    memcpy(command, message->payload.ptr, len);
    command[len] = '\0';
    component_message_free(message);
    if (strncmp(command, "watch ", 6) == 0) {
        watch(command + 6, len - 6);
    } else if (strcmp(command, "downs") == 0) {
        snprintf(reply, sizeof reply, "%s", downs);
    } else {
        snprintf(reply, sizeof reply, "err unknown command `%s`", command);
    }
    size_t reply_len = strlen(reply);
    ret->is_some = true;
    ret->val.ptr = malloc(reply_len > 0 ? reply_len : 1);
    ret->val.len = ret->val.ptr != NULL ? reply_len : 0;
    if (ret->val.ptr != NULL) {
        memcpy(ret->val.ptr, reply, reply_len);
    }
    return true;
}

void exports_component_health(component_health_status_t *ret) {
    ret->tag = AIRSSYS_COMPONENT_TYPES_HEALTH_STATUS_HEALTHY;
}

void exports_component_cleanup(void) {}

/*
 * recorder: a Component Model guest in C. It targets the WIT world
 * `airssys:component/component` (wit/airssys-component.wit) through the
 * bindings wit-bindgen's C generator writes (build/wit-c/component.h), and
 * uses WASI through plain libc (wasi-libc): files, the environment,
 * stdout.
 *
 * Every alert it receives (subscribe = ["alerts.>"] in airssys.toml) is
 * appended as one line, `<subject> <payload>`, to the file named by the
 * environment variable RECORDER_LOG (granted in the manifest's
 * [component.wasi], with the directory that holds it). A request, whatever
 * its payload, is answered with the number of lines in the file.
 *
 * The log is cumulative: `init` counts the lines already there, so a
 * restart loses nothing. Each line recorded is also printed to stdout,
 * which the host turns into a `tracing` event.
 *
 * Built by build.sh:
 *   clang --target=wasm32-wasi -mexec-model=reactor ... recorder.c
 *     build/wit-c/component.c build/wit-c/component_component_type.o
 *   airssys componentize --wasi build/recorder.wasm -o build/recorder.component.wasm
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "component.h"

/* Handler codes (the host dead-letters the message as `rejected`). */
#define CANNOT_APPEND 1

/* The log file's path in the guest's view, from RECORDER_LOG. */
static char log_path[256];
/* Lines in the log file. */
static unsigned long lines;
/* The errno of the last failed append, 0 after a successful one. */
static int append_errno;

/* Logs `text` through the world's `logging` import. */
static void log_text(airssys_component_logging_log_level_t level, const char *text) {
    component_string_t message = {(uint8_t *)text, strlen(text)};
    airssys_component_logging_log(level, &message);
}

/* Counts the lines of the log, 0 if it does not exist yet. Returns 0, or
 * the errno of a failed open or read. */
static int count_lines(unsigned long *out) {
    FILE *f = fopen(log_path, "r");
    if (f == NULL) {
        if (errno == ENOENT) {
            *out = 0;
            return 0;
        }
        return errno;
    }
    unsigned long n = 0;
    int c;
    while ((c = fgetc(f)) != EOF) {
        if (c == '\n') {
            n++;
        }
    }
    int failed = ferror(f) ? errno : 0;
    fclose(f);
    *out = n;
    return failed;
}

/* Strings returned to the host (`*err`, a handler error's reason, a health
 * reason) are heap copies (component_string_dup): the generated glue frees
 * them after the call. */

bool exports_component_init(component_list_tuple2_string_string_t *config, component_string_t *err) {
    component_list_tuple2_string_string_free(config);
    char text[400];
    const char *path = getenv("RECORDER_LOG");
    if (path == NULL || path[0] == '\0' || strlen(path) >= sizeof log_path) {
        component_string_dup(err, "RECORDER_LOG is not set (grant it in the manifest's [component.wasi] env)");
        return false;
    }
    strcpy(log_path, path);
    int failed = count_lines(&lines);
    if (failed != 0) {
        snprintf(text, sizeof text, "cannot read %s: %s", log_path, strerror(failed));
        component_string_dup(err, text);
        return false;
    }
    snprintf(text, sizeof text, "recorder: %s holds %lu line(s)", log_path, lines);
    log_text(AIRSSYS_COMPONENT_TYPES_LOG_LEVEL_INFO, text);
    return true;
}

/* Appends `<subject> <payload>` as one line (newlines in the payload
 * become spaces). Returns 0 or the errno of the failure. */
static int append(const component_message_t *message) {
    FILE *f = fopen(log_path, "a");
    if (f == NULL) {
        return errno;
    }
    if (message->subject.is_some) {
        fwrite(message->subject.val.ptr, 1, message->subject.val.len, f);
    } else {
        fputc('-', f);
    }
    fputc(' ', f);
    for (size_t i = 0; i < message->payload.len; i++) {
        uint8_t c = message->payload.ptr[i];
        fputc(c == '\n' || c == '\r' ? ' ' : c, f);
    }
    fputc('\n', f);
    int failed = ferror(f) ? errno : 0;
    if (fclose(f) != 0 && failed == 0) {
        failed = errno;
    }
    return failed;
}

/* The decimal text of `n` as a heap-allocated payload. */
static void reply_number(component_option_list_u8_t *ret, unsigned long n) {
    char text[24];
    int len = snprintf(text, sizeof text, "%lu", n);
    ret->is_some = true;
    ret->val.ptr = malloc((size_t)len);
    ret->val.len = ret->val.ptr != NULL ? (size_t)len : 0;
    if (ret->val.ptr != NULL) {
        memcpy(ret->val.ptr, text, (size_t)len);
    }
}

bool exports_component_handle_message(component_message_t *message, component_option_list_u8_t *ret,
                                      component_handler_error_t *err) {
    bool ok = true;
    if (message->correlation_id.is_some) {
        reply_number(ret, lines);
    } else {
        ret->is_some = false;
        append_errno = append(message);
        if (append_errno != 0) {
            char text[400];
            snprintf(text, sizeof text, "cannot append to %s: %s", log_path, strerror(append_errno));
            log_text(AIRSSYS_COMPONENT_TYPES_LOG_LEVEL_ERROR, text);
            err->code = CANNOT_APPEND;
            component_string_dup(&err->reason, text);
            ok = false;
        } else {
            lines++;
            printf("recorded line %lu: %.*s\n", lines, (int)message->payload.len,
                   (const char *)message->payload.ptr);
            /* stdout is not a terminal, so fully buffered: flush each line. */
            fflush(stdout);
        }
    }
    component_message_free(message);
    return ok;
}

void exports_component_health(component_health_status_t *ret) {
    if (append_errno != 0) {
        ret->tag = AIRSSYS_COMPONENT_TYPES_HEALTH_STATUS_DEGRADED;
        component_string_dup(&ret->val.degraded, strerror(append_errno));
    } else {
        ret->tag = AIRSSYS_COMPONENT_TYPES_HEALTH_STATUS_HEALTHY;
    }
}

void exports_component_cleanup(void) {
    char text[400];
    snprintf(text, sizeof text, "recorder: stopping; %s holds %lu line(s)", log_path, lines);
    log_text(AIRSSYS_COMPONENT_TYPES_LOG_LEVEL_INFO, text);
}

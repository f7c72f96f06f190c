/*
 * wasi_probe: a Component Model guest in C (wit-bindgen's C bindings of
 * wit/airssys-component.wit, wasi-libc) that tries one kind of WASI access
 * per message and replies with what happened, for tests/wasi.rs.
 *
 * The payload is a command; the reply is `ok[ <result>]` or `err <errno>`
 * (`ENOENT`, `EPERM`, ... or `errno <n>`):
 *
 *   read PATH          the file's first 256 bytes
 *   write PATH TEXT    creates or truncates PATH and writes TEXT
 *   env NAME           the variable's value; `err unset` when absent
 *   environ            the names of all variables, comma-separated
 *   time               time(NULL), in seconds
 *   clock              clock_gettime(CLOCK_REALTIME), in seconds
 *   stdout TEXT        prints TEXT and a newline to stdout
 *
 * Not probed: TCP or UDP. Debian's wasi-libc (0.0~git20220510) declares
 * no socket(), connect() or bind(): WASI preview 1 cannot create a
 * socket, so a C guest built against it has no way to reach the host's
 * socket check (see docs/guests.md).
 *
 * Built by examples/sensors/build.sh into build/wasi_probe.component.wasm.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "component.h"

extern char **environ;

/* Commands and replies up to 1 KiB. */
#define TEXT_MAX 1024

/* The reply being built. */
static char reply[TEXT_MAX];

static const char *errno_name(int e) {
    switch (e) {
    case ENOENT: return "ENOENT";
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case EROFS: return "EROFS";
    case EBADF: return "EBADF";
    case ENOTCAPABLE: return "ENOTCAPABLE";
    case EISDIR: return "EISDIR";
    case ENOTDIR: return "ENOTDIR";
    case EEXIST: return "EEXIST";
    case EINVAL: return "EINVAL";
    case ENOSYS: return "ENOSYS";
    case ENOTSUP: return "ENOTSUP";
    default: return NULL;
    }
}

static void reply_errno(int e) {
    const char *name = errno_name(e);
    if (name != NULL) {
        snprintf(reply, sizeof reply, "err %s", name);
    } else {
        snprintf(reply, sizeof reply, "err errno %d", e);
    }
}

static void probe_read(const char *path) {
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        reply_errno(errno);
        return;
    }
    char content[257];
    size_t n = fread(content, 1, sizeof content - 1, f);
    int failed = ferror(f) ? errno : 0;
    fclose(f);
    if (failed != 0) {
        reply_errno(failed);
        return;
    }
    content[n] = '\0';
    snprintf(reply, sizeof reply, "ok %s", content);
}

static void probe_write(char *args) {
    char *text = strchr(args, ' ');
    if (text != NULL) {
        *text++ = '\0';
    } else {
        text = "";
    }
    FILE *f = fopen(args, "w");
    if (f == NULL) {
        reply_errno(errno);
        return;
    }
    fputs(text, f);
    int failed = ferror(f) ? errno : 0;
    if (fclose(f) != 0 && failed == 0) {
        failed = errno;
    }
    if (failed != 0) {
        reply_errno(failed);
    } else {
        snprintf(reply, sizeof reply, "ok");
    }
}

static void probe_env(const char *name) {
    const char *value = getenv(name);
    if (value == NULL) {
        snprintf(reply, sizeof reply, "err unset");
    } else {
        snprintf(reply, sizeof reply, "ok %s", value);
    }
}

static void probe_environ(void) {
    size_t len = (size_t)snprintf(reply, sizeof reply, "ok ");
    for (char **var = environ; var != NULL && *var != NULL; var++) {
        const char *eq = strchr(*var, '=');
        size_t name = eq != NULL ? (size_t)(eq - *var) : strlen(*var);
        if (len + name + 2 >= sizeof reply) {
            break;
        }
        if (var != environ) {
            reply[len++] = ',';
        }
        memcpy(reply + len, *var, name);
        len += name;
        reply[len] = '\0';
    }
}

static void probe_time(void) {
    time_t now = time(NULL);
    if (now == (time_t)-1) {
        reply_errno(errno);
    } else {
        snprintf(reply, sizeof reply, "ok %lld", (long long)now);
    }
}

static void probe_clock(void) {
    struct timespec now;
    if (clock_gettime(CLOCK_REALTIME, &now) != 0) {
        reply_errno(errno);
    } else {
        snprintf(reply, sizeof reply, "ok %lld", (long long)now.tv_sec);
    }
}

static void probe_stdout(const char *text) {
    printf("%s\n", text);
    /* stdout is not a terminal, so fully buffered: flush. */
    fflush(stdout);
    snprintf(reply, sizeof reply, "ok");
}

/* Runs `command` (NUL-terminated, modified in place) into `reply`. */
static void run(char *command) {
    char *args = strchr(command, ' ');
    if (args != NULL) {
        *args++ = '\0';
    } else {
        args = "";
    }
    if (strcmp(command, "read") == 0) {
        probe_read(args);
    } else if (strcmp(command, "write") == 0) {
        probe_write(args);
    } else if (strcmp(command, "env") == 0) {
        probe_env(args);
    } else if (strcmp(command, "environ") == 0) {
        probe_environ();
    } else if (strcmp(command, "time") == 0) {
        probe_time();
    } else if (strcmp(command, "clock") == 0) {
        probe_clock();
    } else if (strcmp(command, "stdout") == 0) {
        probe_stdout(args);
    } else {
        snprintf(reply, sizeof reply, "err unknown command `%s`", command);
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
    char command[TEXT_MAX];
    size_t len = message->payload.len < TEXT_MAX - 1 ? message->payload.len : TEXT_MAX - 1;
    memcpy(command, message->payload.ptr, len);
    command[len] = '\0';
    component_message_free(message);
    run(command);
    size_t reply_len = strlen(reply);
    ret->is_some = true;
    ret->val.ptr = malloc(reply_len);
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

#include "config.h"

#include <stdarg.h>
#include <stdio.h>

#include "vr-log.h"

static bool log_stderr = true;
static bool log_debug;
static const char *log_ident = "virt-router";

void vr_log_open(const char *ident, bool to_stderr, bool debug) {
        log_ident = ident;
        log_stderr = to_stderr;
        log_debug = debug;
        if (!to_stderr)
                openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void vr_log(int priority, const char *fmt, ...) {
        va_list ap;

        if (priority == LOG_DEBUG && !log_debug)
                return;
        va_start(ap, fmt);
        if (log_stderr) {
                fprintf(stderr, "%s: ", log_ident);
                vfprintf(stderr, fmt, ap);
                fputc('\n', stderr);
        } else {
                vsyslog(priority, fmt, ap);
        }
        va_end(ap);
}

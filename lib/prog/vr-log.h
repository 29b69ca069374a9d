/* Logging at the programs' edge: to stderr in the foreground, to syslog (and so the
 * journal where systemd runs) when detached. Every message names the domain. */
#pragma once

#include <stdbool.h>
#include <syslog.h>

#include "vr-macros.h"

void vr_log_open(const char *ident, bool to_stderr, bool debug);
void vr_log(int priority, const char *fmt, ...) _printf_(2, 3);

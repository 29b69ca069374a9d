/* What every part of vr-init uses: one-line output and VR-ERROR on the console, small
 * file helpers, running ip and tc. Libc only, no GLib: vr-init is PID 1 of a minimal
 * initramfs and is linked static. */
#pragma once

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define IP_PATH "/sbin/ip"
#define TC_PATH "/sbin/tc"

/* Where every line goes: the console (stdout). */
extern int out_fd;
/* The signals PID 1 takes through its signalfd: blocked there, unblocked in children. */
extern sigset_t handled_signals;

/* Writes one line with one write(2), as far as the descriptor takes it. */
void emit_fd(int fd, const char *line);
/* "VR-ERROR msg=..." on out_fd, always one line. */
__attribute__((format(printf, 1, 2))) void report_error(const char *fmt, ...);

/* 0 or -errno. */
int write_file(const char *path, const char *value);
/* Reads up to size-1 bytes, NUL-terminated; returns the length or -errno. */
ssize_t read_file(const char *path, char *buf, size_t size);
/* A number in a file (sysfs statistics); 0 when unreadable. */
uint64_t read_u64(const char *path);
/* snprintf at buf + len; returns the new length, size or more when the text was cut. */
__attribute__((format(printf, 4, 5))) size_t append(char *buf, size_t size, size_t len, const char *fmt, ...);
/* fn(dir_path, name, data) for each entry not starting with '.'. */
void for_each_entry(const char *dir_path, void (*fn)(const char *dir, const char *name, void *data), void *data);

/* Runs argv[0] with input on its stdin (may be NULL) and its stdout in out (may be
 * NULL); each stderr line becomes a VR-ERROR. Returns the exit status, or -errno when
 * it could not run. */
int run(const char *const argv[], const char *input, char *out, size_t out_size);

/* What every part of vr-init uses: one-line output, VR-ERROR, small file helpers,
 * running ip and tc. Libc only (see init-util.h). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "init-util.h"

int out_fd = STDOUT_FILENO;

/* ---------------------------------------------------------------------------
 * Output: every message is one line, written with one write(2). */
void emit_fd(int fd, const char *line) {
        size_t len = strlen(line);
        while (len > 0) {
                ssize_t n = write(fd, line, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN) { /* a channel's reader is slow: wait a little */
                        struct pollfd pfd = {fd, POLLOUT, 0};
                        if (poll(&pfd, 1, 100) > 0)
                                continue;
                }
                if (n <= 0)
                        return;
                line += n;
                len -= (size_t) n;
        }
}

void report_error(const char *fmt, ...) {
        char msg[512], line[600];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        for (char *p = msg; *p; p++) /* one line, whatever the message holds */
                if (*p == '\n' || *p == '\r')
                        *p = ' ';
        snprintf(line, sizeof(line), "VR-ERROR msg=%s\n", msg);
        emit_fd(out_fd, line);
}

/* ---------------------------------------------------------------------------
 * Small file helpers */
int write_file(const char *path, const char *value) {
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        ssize_t n;

        if (fd < 0)
                return -errno;
        n = write(fd, value, strlen(value));
        if (n < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        close(fd);
        return 0;
}

/* Reads up to size-1 bytes, NUL-terminated; returns the length or -errno. */
ssize_t read_file(const char *path, char *buf, size_t size) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        size_t len = 0;

        if (fd < 0)
                return -errno;
        while (len + 1 < size) {
                ssize_t n = read(fd, buf + len, size - 1 - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        int r = -errno;
                        close(fd);
                        return r;
                }
                if (n == 0)
                        break;
                len += (size_t) n;
        }
        close(fd);
        buf[len] = '\0';
        return (ssize_t) len;
}

uint64_t read_u64(const char *path) {
        char buf[32];
        return read_file(path, buf, sizeof(buf)) > 0 ? strtoull(buf, NULL, 10) : 0;
}

/* ---------------------------------------------------------------------------
 * Strings and directories */
size_t append(char *buf, size_t size, size_t len, const char *fmt, ...) {
        va_list ap;
        int n;
        if (len >= size)
                return len;
        va_start(ap, fmt);
        n = vsnprintf(buf + len, size - len, fmt, ap);
        va_end(ap);
        return n < 0 ? len : len + (size_t) n;
}

void for_each_entry(const char *dir_path, void (*fn)(const char *dir, const char *name, void *data), void *data) {
        DIR *dir = opendir(dir_path);
        struct dirent *de;
        if (!dir)
                return;
        while ((de = readdir(dir)))
                if (de->d_name[0] != '.')
                        fn(dir_path, de->d_name, data);
        closedir(dir);
}

/* ---------------------------------------------------------------------------
 * Child processes: ip and tc, fed on stdin; stderr lines become VR-ERROR. */
sigset_t handled_signals;

static void report_stderr(const char *prog, char *text) {
        char *save = NULL;
        for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
                report_error("%s: %s", prog, l);
}

/* Returns the exit status, or -errno when it could not run. out may be NULL. */
int run(const char *const argv[], const char *input, char *out, size_t out_size) {
        int pipes[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}}, *in = pipes[0], *o = pipes[1], *e = pipes[2], status;
        size_t in_len = input ? strlen(input) : 0, in_off = 0, out_len = 0, err_len = 0;
        char err[4096];
        pid_t pid = -1;

        for (int k = 0; k < 3; k++)
                if (pipe2(pipes[k], O_CLOEXEC) < 0)
                        goto fail;
        if ((pid = fork()) < 0)
                goto fail;
        if (pid == 0) {
                sigprocmask(SIG_UNBLOCK, &handled_signals, NULL);
                signal(SIGPIPE, SIG_DFL);
                dup2(in[0], STDIN_FILENO);
                dup2(o[1], STDOUT_FILENO);
                dup2(e[1], STDERR_FILENO);
                execv(argv[0], (char *const *) argv);
                dprintf(STDERR_FILENO, "cannot run %s: %s\n", argv[0], strerror(errno));
                _exit(127);
        }
        close(in[0]), close(o[1]), close(e[1]);
        fcntl(in[1], F_SETFL, O_NONBLOCK);
        if (in_len == 0) {
                close(in[1]);
                in[1] = -1;
        }
        /* Write and read together: a child that answers while reading must not block us. */
        while (o[0] >= 0 || e[0] >= 0) {
                struct pollfd pfd[3] = {{in[1], POLLOUT, 0}, {o[0], POLLIN, 0}, {e[0], POLLIN, 0}};
                if (poll(pfd, 3, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                if (pfd[0].revents) {
                        ssize_t n = write(in[1], input + in_off, in_len - in_off);
                        if (n > 0)
                                in_off += (size_t) n;
                        if (n < 0 || in_off == in_len) {
                                close(in[1]);
                                in[1] = -1;
                        }
                }
                for (int k = 1; k <= 2; k++) {
                        char sink[1024], *dst = sink;
                        size_t room = sizeof(sink), *len = NULL;
                        ssize_t n;
                        if (!pfd[k].revents)
                                continue;
                        if (k == 1 && out && out_len + 1 < out_size)
                                dst = out + out_len, room = out_size - 1 - out_len, len = &out_len;
                        else if (k == 2 && err_len + 1 < sizeof(err))
                                dst = err + err_len, room = sizeof(err) - 1 - err_len, len = &err_len;
                        n = read(pfd[k].fd, dst, room);
                        if (n > 0 && len)
                                *len += (size_t) n;
                        if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
                                close(pfd[k].fd);
                                if (k == 1)
                                        o[0] = -1;
                                else
                                        e[0] = -1;
                        }
                }
        }
        if (in[1] >= 0)
                close(in[1]);
        if (out)
                out[out_len] = '\0';
        err[err_len] = '\0';
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        report_stderr(strrchr(argv[0], '/') + 1, err);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);

fail:
        status = -errno;
        for (int k = 0; k < 3; k++)
                for (int j = 0; j < 2; j++)
                        if (pipes[k][j] >= 0)
                                close(pipes[k][j]);
        return status;
}

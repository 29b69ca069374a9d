#include "config.h"

#include <stdarg.h>
#include <string.h>

#include "vr-error.h"
#include "vr-hostop.h"
#include "vr-units.h"

VrHostOp *vr_host_op_write(const char *relpath, const char *value) {
        VrHostOp *op = g_new0(VrHostOp, 1);
        op->kind = VR_HOST_OP_WRITE;
        op->path = g_strdup(relpath);
        op->value = g_strdup(value);
        return op;
}

VrHostOp *vr_host_op_vf_flags(const char *pf, int vf, int spoofchk, int trust) {
        VrHostOp *op = g_new0(VrHostOp, 1);
        op->kind = VR_HOST_OP_VF_FLAGS;
        op->dev = g_strdup(pf);
        op->vf = vf;
        op->spoofchk = spoofchk < 0 ? -1 : !!spoofchk;
        op->trust = trust < 0 ? -1 : !!trust;
        return op;
}

VrHostOp *vr_host_op_netns_txqlen(pid_t pid, const char *dev, int qlen) {
        VrHostOp *op = g_new0(VrHostOp, 1);
        op->kind = VR_HOST_OP_NETNS_TXQLEN;
        op->pid = pid;
        op->dev = g_strdup(dev);
        op->qlen = qlen;
        return op;
}

VrHostOp *vr_host_op_tc(const char *fmt, ...) {
        VrHostOp *op = g_new0(VrHostOp, 1);
        g_autofree char *line = NULL;
        va_list ap;

        va_start(ap, fmt);
        line = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        op->kind = VR_HOST_OP_TC;
        op->args = g_strsplit(line, " ", -1);
        return op;
}

VrHostOp *vr_host_op_copy(const VrHostOp *op) {
        VrHostOp *c = g_memdup2(op, sizeof(*op));
        c->path = g_strdup(op->path);
        c->value = g_strdup(op->value);
        c->dev = g_strdup(op->dev);
        c->args = g_strdupv(op->args);
        return c;
}

void vr_host_op_free(VrHostOp *op) {
        if (!op)
                return;
        g_free(op->path);
        g_free(op->value);
        g_free(op->dev);
        g_strfreev(op->args);
        g_free(op);
}

char *vr_host_op_format(const VrHostOp *op) {
        GString *s = g_string_new(NULL);

        switch (op->kind) {
        case VR_HOST_OP_WRITE:
                g_string_printf(s, "write %s %s", op->path, op->value);
                break;
        case VR_HOST_OP_VF_FLAGS:
                g_string_printf(s, "vf_flags %s vf=%d", op->dev, op->vf);
                if (op->spoofchk >= 0)
                        g_string_append_printf(s, " spoofchk=%d", op->spoofchk);
                if (op->trust >= 0)
                        g_string_append_printf(s, " trust=%d", op->trust);
                break;
        case VR_HOST_OP_NETNS_TXQLEN:
                g_string_printf(s, "netns_txqlen %d %s %d", (int) op->pid, op->dev, op->qlen);
                break;
        case VR_HOST_OP_TC: {
                g_autofree char *args = g_strjoinv(" ", op->args);
                g_string_printf(s, "tc %s", args);
                break;
        }
        }
        return g_string_free(s, FALSE);
}

static bool parse_int_word(const char *word, const char *key, int64_t min, int64_t max, int64_t *ret) {
        size_t n = key ? strlen(key) : 0;
        if (key && (strncmp(word, key, n) != 0 || word[n] != '='))
                return false;
        return vr_parse_int(key ? word + n + 1 : word, min, max, ret) == 0;
}

VrHostOp *vr_host_op_parse(const char *line, GError **error) {
        g_auto(GStrv) w = g_strsplit(line, " ", -1);
        guint n = g_strv_length(w);
        int64_t a, b, c;

        if (n >= 3 && g_str_equal(w[0], "write")) {
                /* The value is the rest of the line (a value may hold a space). */
                const char *value = line + strlen("write ") + strlen(w[1]) + 1;
                return vr_host_op_write(w[1], value);
        }
        if (n >= 3 && n <= 5 && g_str_equal(w[0], "vf_flags") && parse_int_word(w[2], "vf", 0, G_MAXINT, &a)) {
                int spoofchk = -1, trust = -1;
                bool ok = true;
                for (guint i = 3; i < n && ok; i++) {
                        if (parse_int_word(w[i], "spoofchk", 0, 1, &b))
                                spoofchk = (int) b;
                        else if (parse_int_word(w[i], "trust", 0, 1, &b))
                                trust = (int) b;
                        else
                                ok = false;
                }
                if (ok)
                        return vr_host_op_vf_flags(w[1], (int) a, spoofchk, trust);
        }
        if (n == 4 && g_str_equal(w[0], "netns_txqlen") && parse_int_word(w[1], NULL, 1, G_MAXINT, &a) &&
            parse_int_word(w[3], NULL, 0, G_MAXINT, &c))
                return vr_host_op_netns_txqlen((pid_t) a, w[2], (int) c);
        if (n >= 2 && g_str_equal(w[0], "tc")) {
                VrHostOp *op = g_new0(VrHostOp, 1);
                op->kind = VR_HOST_OP_TC;
                op->args = g_strdupv(w + 1);
                return op;
        }
        g_set_error(error, VR_ERROR, VR_ERROR_INVALID,
                    "host change '%s': expected write, vf_flags, netns_txqlen or tc with their arguments", line);
        return NULL;
}

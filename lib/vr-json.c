#include "config.h"

#include "vr-json.h"

struct VrJson {
        GString *out;
        GArray *first; /* per open container: no element written yet */
        bool after_key;
};

VrJson *vr_json_new(void) {
        VrJson *j = g_new0(VrJson, 1);
        j->out = g_string_new(NULL);
        j->first = g_array_new(FALSE, FALSE, sizeof(gboolean));
        return j;
}

void vr_json_free(VrJson *j) {
        if (!j)
                return;
        g_string_free(j->out, TRUE);
        g_array_unref(j->first);
        g_free(j);
}

static void newline(VrJson *j) {
        g_string_append_c(j->out, '\n');
        for (guint i = 0; i < j->first->len; i++)
                g_string_append(j->out, "  ");
}

/* Separator and indentation before a value or key. */
static void before_item(VrJson *j) {
        gboolean *first;

        if (j->after_key) {
                j->after_key = false;
                return;
        }
        if (!j->first->len)
                return;
        first = &g_array_index(j->first, gboolean, j->first->len - 1);
        if (!*first)
                g_string_append_c(j->out, ',');
        *first = FALSE;
        newline(j);
}

static void open_container(VrJson *j, char c) {
        gboolean t = TRUE;
        before_item(j);
        g_string_append_c(j->out, c);
        g_array_append_val(j->first, t);
}

static void close_container(VrJson *j, char c) {
        gboolean empty = g_array_index(j->first, gboolean, j->first->len - 1);
        g_array_set_size(j->first, j->first->len - 1);
        if (!empty)
                newline(j);
        g_string_append_c(j->out, c);
}

void vr_json_begin_object(VrJson *j) { open_container(j, '{'); }
void vr_json_end_object(VrJson *j) { close_container(j, '}'); }
void vr_json_begin_array(VrJson *j) { open_container(j, '['); }
void vr_json_end_array(VrJson *j) { close_container(j, ']'); }

static void append_escaped(GString *out, const char *s) {
        g_string_append_c(out, '"');
        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                switch (*p) {
                case '"': g_string_append(out, "\\\""); break;
                case '\\': g_string_append(out, "\\\\"); break;
                case '\n': g_string_append(out, "\\n"); break;
                case '\t': g_string_append(out, "\\t"); break;
                case '\r': g_string_append(out, "\\r"); break;
                default:
                        if (*p < 0x20)
                                g_string_append_printf(out, "\\u%04x", *p);
                        else
                                g_string_append_c(out, (char) *p);
                }
        }
        g_string_append_c(out, '"');
}

void vr_json_key(VrJson *j, const char *key) {
        before_item(j);
        append_escaped(j->out, key);
        g_string_append(j->out, ": ");
        j->after_key = true;
}

void vr_json_string(VrJson *j, const char *s) {
        before_item(j);
        if (s)
                append_escaped(j->out, s);
        else
                g_string_append(j->out, "null");
}

void vr_json_int(VrJson *j, int64_t v) {
        before_item(j);
        g_string_append_printf(j->out, "%" G_GINT64_FORMAT, v);
}

void vr_json_uint(VrJson *j, uint64_t v) {
        before_item(j);
        g_string_append_printf(j->out, "%" G_GUINT64_FORMAT, v);
}

void vr_json_double(VrJson *j, double v) {
        char buf[G_ASCII_DTOSTR_BUF_SIZE];
        before_item(j);
        g_string_append(j->out, g_ascii_formatd(buf, sizeof(buf), "%.6g", v));
}

void vr_json_bool(VrJson *j, bool v) {
        before_item(j);
        g_string_append(j->out, v ? "true" : "false");
}

char *vr_json_finish(VrJson *j) {
        return g_strconcat(j->out->str, "\n", NULL);
}

#include "config.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include "vr-error.h"
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

/* ------------------------------------------------------------------------ */
/* Reader                                                                   */

#define JSON_MAX_DEPTH 64

typedef struct {
        const char *p;
        const char *start;
        GError **error;
        const char *key; /* the member whose value is being read, for the message */
} Reader;

void vr_json_node_free(VrJsonNode *n) {
        if (!n)
                return;
        g_free(n->string);
        if (n->items)
                g_ptr_array_unref(n->items);
        if (n->keys)
                g_ptr_array_unref(n->keys);
        g_free(n);
}

static bool fail(Reader *r, const char *what) {
        if (r->error && !*r->error)
                g_set_error(r->error, VR_ERROR, VR_ERROR_INVALID, "JSON at offset %ld%s%s%s: %s",
                            (long) (r->p - r->start), r->key ? " (member '" : "", r->key ? r->key : "",
                            r->key ? "')" : "", what);
        return false;
}

static void skip_ws(Reader *r) {
        while (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r')
                r->p++;
}

static bool parse_string(Reader *r, char **ret) {
        GString *s = g_string_new(NULL);

        r->p++; /* opening quote */
        while (*r->p != '"') {
                unsigned char c = (unsigned char) *r->p;
                if (!c || c < 0x20) {
                        g_string_free(s, TRUE);
                        return fail(r, "unterminated string or control character in it");
                }
                if (c != '\\') {
                        g_string_append_c(s, (char) c);
                        r->p++;
                        continue;
                }
                r->p++;
                switch (*r->p) {
                case '"': g_string_append_c(s, '"'); break;
                case '\\': g_string_append_c(s, '\\'); break;
                case '/': g_string_append_c(s, '/'); break;
                case 'b': g_string_append_c(s, '\b'); break;
                case 'f': g_string_append_c(s, '\f'); break;
                case 'n': g_string_append_c(s, '\n'); break;
                case 'r': g_string_append_c(s, '\r'); break;
                case 't': g_string_append_c(s, '\t'); break;
                case 'u': {
                        gunichar u = 0;
                        for (int i = 1; i <= 4; i++) {
                                int d = g_ascii_xdigit_value(r->p[i]);
                                if (d < 0) {
                                        g_string_free(s, TRUE);
                                        return fail(r, "bad \\u escape");
                                }
                                u = u * 16 + (gunichar) d;
                        }
                        r->p += 4;
                        if (u >= 0xD800 && u <= 0xDBFF && r->p[1] == '\\' && r->p[2] == 'u') {
                                gunichar lo = 0;
                                for (int i = 3; i <= 6; i++) {
                                        int d = g_ascii_xdigit_value(r->p[i]);
                                        if (d < 0)
                                                break;
                                        lo = lo * 16 + (gunichar) d;
                                }
                                if (lo >= 0xDC00 && lo <= 0xDFFF) {
                                        u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
                                        r->p += 6;
                                }
                        }
                        g_string_append_unichar(s, u);
                        break;
                }
                default:
                        g_string_free(s, TRUE);
                        return fail(r, "bad escape in string");
                }
                r->p++;
        }
        r->p++;
        *ret = g_string_free(s, FALSE);
        return true;
}

static VrJsonNode *parse_value(Reader *r, int depth);

static VrJsonNode *node_new(VrJsonType type) {
        VrJsonNode *n = g_new0(VrJsonNode, 1);
        n->type = type;
        return n;
}

static VrJsonNode *parse_container(Reader *r, int depth, bool object) {
        g_autoptr(VrJsonNode) n = node_new(object ? VR_JSON_OBJECT : VR_JSON_ARRAY);
        g_autoptr(GHashTable) seen = NULL; /* the object's member names so far */
        char close = object ? '}' : ']';

        n->items = g_ptr_array_new_with_free_func((GDestroyNotify) vr_json_node_free);
        if (object)
                n->keys = g_ptr_array_new_with_free_func(g_free);
        r->p++;
        skip_ws(r);
        if (*r->p == close) {
                r->p++;
                return g_steal_pointer(&n);
        }
        if (object)
                seen = g_hash_table_new(g_str_hash, g_str_equal);
        for (;;) {
                VrJsonNode *v;
                skip_ws(r);
                if (object) {
                        char *key = NULL;
                        if (*r->p != '"' || !parse_string(r, &key)) {
                                fail(r, "expected a member name");
                                return NULL;
                        }
                        g_ptr_array_add(n->keys, key);
                        r->key = NULL;
                        if (!g_hash_table_add(seen, key)) {
                                g_autofree char *what = g_strdup_printf("member '%s' given twice", key);
                                fail(r, what);
                                return NULL;
                        }
                        skip_ws(r);
                        if (*r->p != ':') {
                                fail(r, "expected ':'");
                                return NULL;
                        }
                        r->p++;
                }
                if (object)
                        r->key = n->keys->pdata[n->keys->len - 1];
                v = parse_value(r, depth + 1);
                if (!v)
                        return NULL;
                r->key = NULL;
                g_ptr_array_add(n->items, v);
                skip_ws(r);
                if (*r->p == ',') {
                        r->p++;
                        continue;
                }
                if (*r->p == close) {
                        r->p++;
                        return g_steal_pointer(&n);
                }
                fail(r, object ? "expected ',' or '}'" : "expected ',' or ']'");
                return NULL;
        }
}

static const char *skip_digits(const char *p) {
        while (g_ascii_isdigit(*p))
                p++;
        return p;
}

/* The end of the number at P by RFC 8259's grammar, NULL if there is none: strtod
 * alone would also take "nan", "inf" and hex. */
static const char *scan_number(const char *p) {
        p += *p == '-';
        if (!g_ascii_isdigit(*p))
                return NULL;
        p = *p == '0' ? p + 1 : skip_digits(p);
        if (*p == '.') {
                if (!g_ascii_isdigit(p[1]))
                        return NULL;
                p = skip_digits(p + 1);
        }
        if (*p == 'e' || *p == 'E') {
                p += 1 + (p[1] == '+' || p[1] == '-');
                if (!g_ascii_isdigit(*p))
                        return NULL;
                p = skip_digits(p);
        }
        return p;
}

static VrJsonNode *parse_value(Reader *r, int depth) {
        VrJsonNode *n;

        if (depth > JSON_MAX_DEPTH) {
                fail(r, "nested too deeply");
                return NULL;
        }
        skip_ws(r);
        switch (*r->p) {
        case '{': return parse_container(r, depth, true);
        case '[': return parse_container(r, depth, false);
        case '"':
                n = node_new(VR_JSON_STRING);
                if (!parse_string(r, &n->string)) {
                        vr_json_node_free(n);
                        return NULL;
                }
                return n;
        case 't':
        case 'f':
        case 'n': {
                static const struct { const char *word; VrJsonType type; bool b; } words[] = {
                        {"true", VR_JSON_BOOL, true}, {"false", VR_JSON_BOOL, false}, {"null", VR_JSON_NULL, false},
                };
                for (size_t i = 0; i < G_N_ELEMENTS(words); i++) {
                        size_t len = strlen(words[i].word);
                        if (strncmp(r->p, words[i].word, len) == 0) {
                                r->p += len;
                                n = node_new(words[i].type);
                                n->boolean = words[i].b;
                                return n;
                        }
                }
                fail(r, "unexpected word");
                return NULL;
        }
        default: {
                const char *end = scan_number(r->p);
                g_autofree char *text = NULL;
                if (!end) {
                        fail(r, *r->p == '-' || g_ascii_isdigit(*r->p) ? "bad number" : "unexpected character");
                        return NULL;
                }
                text = g_strndup(r->p, (gsize) (end - r->p));
                r->p = end;
                n = node_new(VR_JSON_NUMBER);
                n->number = g_ascii_strtod(text, NULL); /* too large: +-HUGE_VAL */
                return n;
        }
        }
}

VrJsonNode *vr_json_parse(const char *text, GError **error) {
        Reader r = {text, text, error};
        g_autoptr(VrJsonNode) n = parse_value(&r, 0);

        if (!n)
                return NULL;
        skip_ws(&r);
        if (*r.p) {
                fail(&r, "trailing characters after the document");
                return NULL;
        }
        return g_steal_pointer(&n);
}

const VrJsonNode *vr_json_member(const VrJsonNode *n, const char *key) {
        if (!n || n->type != VR_JSON_OBJECT)
                return NULL;
        for (guint i = 0; i < n->keys->len; i++)
                if (g_str_equal(n->keys->pdata[i], key))
                        return n->items->pdata[i];
        return NULL;
}

const char *vr_json_member_string(const VrJsonNode *n, const char *key) {
        const VrJsonNode *m = vr_json_member(n, key);
        return m && m->type == VR_JSON_STRING ? m->string : NULL;
}

int vr_json_get_int(const VrJsonNode *v, int64_t min, int64_t max, int64_t *ret) {
        double x;

        if (!v || v->type != VR_JSON_NUMBER)
                return -EINVAL;
        min = MAX(min, -VR_JSON_INT_MAX);
        max = MIN(max, VR_JSON_INT_MAX);
        x = v->number;
        /* Compared as doubles first: only a value known to fit is converted. */
        if (!isfinite(x) || x != floor(x) || x < (double) min || x > (double) max)
                return -ERANGE;
        *ret = (int64_t) x;
        return 0;
}

int vr_json_member_int(const VrJsonNode *n, const char *key, int64_t min, int64_t max, int64_t *ret) {
        const VrJsonNode *m = vr_json_member(n, key);
        return m ? vr_json_get_int(m, min, max, ret) : -ENOENT;
}

bool vr_json_member_bool(const VrJsonNode *n, const char *key, bool dflt) {
        const VrJsonNode *m = vr_json_member(n, key);
        return m && m->type == VR_JSON_BOOL ? m->boolean : dflt;
}

#include "config.h"

#include <stdarg.h>
#include <string.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>

#include "vr-error.h"
#include "vr-xml.h"

/* No network, no entity expansion, no DTD loading: a hook reads untrusted input. */
#define PARSE_OPTIONS (XML_PARSE_NONET | XML_PARSE_BIG_LINES | XML_PARSE_NOWARNING | XML_PARSE_NOERROR)

typedef struct {
        GString *msg;
} ParseCtx;

static void collect_error(void *data, xmlErrorPtr err) {
        ParseCtx *ctx = data;
        g_autofree char *m = NULL;

        if (!err || err->level < XML_ERR_ERROR || ctx->msg->len)
                return; /* the first error is the one that explains the rest */
        m = g_strdup(err->message ? err->message : "malformed XML");
        g_strchomp(m);
        g_string_append_printf(ctx->msg, "line %d: %s", err->line, m);
}

/* The line of the DOCTYPE, which libxml2 does not keep: line ends counted as the parser
 * counts them (CRLF, CR, LF). */
static long doctype_line(const char *buf, size_t len) {
        const char *d = g_strstr_len(buf, (gssize) len, "<!DOCTYPE");
        long line = 1;

        for (const char *c = buf; d && c < d; c++)
                line += *c == '\n' || (*c == '\r' && c[1] != '\n');
        return line;
}

/* The first entity reference below n, in text or an attribute value; *ret_line: where. */
static const xmlNode *find_entity_ref(const xmlNode *n, long *ret_line) {
        for (; n; n = n->next) {
                const xmlNode *r = NULL;
                if (n->type == XML_ENTITY_REF_NODE) {
                        *ret_line = xmlGetLineNo(n);
                        return n;
                }
                if (n->type != XML_ELEMENT_NODE)
                        continue;
                for (const xmlAttr *a = n->properties; a; a = a->next) {
                        for (r = a->children; r && r->type != XML_ENTITY_REF_NODE; r = r->next)
                                ;
                        if (r) {
                                *ret_line = xmlGetLineNo(n);
                                return r;
                        }
                }
                if ((r = find_entity_ref(n->children, ret_line)))
                        return r;
        }
        return NULL;
}

/* Entities are refused, not kept: a reference stands for text that is not in the document
 * (an external one names a file of whichever host reads it), so virt-router would judge
 * the policy on other text than libvirt, and a rewritten document that keeps the reference
 * needs the DOCTYPE kept with it. libvirt never writes a DOCTYPE. */
static bool check_no_entities(const xmlDoc *doc, const char *buf, size_t len, const char *what,
                              GError **error) {
        const xmlNode *ref;
        long line = 0;

        for (const xmlNode *d = doc->intSubset ? doc->intSubset->children : NULL; d; d = d->next) {
                if (d->type != XML_ENTITY_DECL)
                        continue;
                g_set_error(error, VR_ERROR, VR_ERROR_INVALID,
                            "%s:%ld: <!DOCTYPE> declares entity '%s': expected a libvirt domain XML, which declares no entities (libvirt writes no DOCTYPE)",
                            what, doctype_line(buf, len), (const char *) d->name);
                return false;
        }
        /* Undeclared, with an external DTD that might declare it: libxml2 only warns. */
        ref = find_entity_ref(doc->children, &line);
        if (ref) {
                g_set_error(error, VR_ERROR, VR_ERROR_INVALID,
                            "%s:%ld: entity reference '&%s;': expected a libvirt domain XML, whose only references are &lt; &gt; &amp; &apos; &quot; and character references",
                            what, line, (const char *) ref->name);
                return false;
        }
        return true;
}

bool vr_xml_check_text(const char *buf, size_t len, const char *what, GError **error) {
        const char *nul = memchr(buf, '\0', len);

        if (nul) {
                g_set_error(error, VR_ERROR, VR_ERROR_INVALID,
                            "%s: a NUL byte at offset %zu: expected a domain XML in UTF-8, which has none (UTF-16 and UTF-32 are not read)",
                            what, (size_t) (nul - buf));
                return false;
        }
        return true;
}

xmlDoc *vr_xml_parse(const char *buf, size_t len, const char *what, GError **error) {
        g_autoptr(GString) msg = g_string_new(NULL);
        ParseCtx ctx = {msg};
        xmlParserCtxtPtr pctx;
        xmlDoc *doc;

        if (len > VR_XML_MAX_SIZE) {
                g_set_error(error, VR_ERROR, VR_ERROR_INVALID,
                            "%s: %zu bytes: expected a domain XML of at most %d bytes", what, len,
                            VR_XML_MAX_SIZE);
                return NULL;
        }
        if (len == 0) {
                g_set_error(error, VR_ERROR, VR_ERROR_INVALID,
                            "%s: empty input: expected a libvirt domain XML", what);
                return NULL;
        }
        /* libxml2 would stop at a NUL (not well-formed) or decode UTF-16: refused alike,
         * so that the hook's front, which reads bytes, and this parser agree. */
        if (!vr_xml_check_text(buf, len, what, error))
                return NULL;
        pctx = xmlNewParserCtxt();
        if (!pctx)
                g_error("out of memory");
        xmlSetStructuredErrorFunc(&ctx, collect_error);
        doc = xmlCtxtReadMemory(pctx, buf, (int) len, what, NULL, PARSE_OPTIONS);
        xmlSetStructuredErrorFunc(NULL, NULL);
        xmlFreeParserCtxt(pctx);
        if (!doc || !xmlDocGetRootElement(doc)) {
                g_set_error(error, VR_ERROR, VR_ERROR_INVALID, "%s: not well-formed XML: %s",
                            what, msg->len ? msg->str : "no root element");
                xmlFreeDoc(doc);
                return NULL;
        }
        if (doc->encoding && g_ascii_strcasecmp((const char *) doc->encoding, "UTF-8") != 0 &&
            g_ascii_strcasecmp((const char *) doc->encoding, "US-ASCII") != 0) {
                g_set_error(error, VR_ERROR, VR_ERROR_INVALID,
                            "%s: encoding '%s' declared: expected a domain XML in UTF-8, as libvirt writes it",
                            what, (const char *) doc->encoding);
                xmlFreeDoc(doc);
                return NULL;
        }
        if (!check_no_entities(doc, buf, len, what, error)) {
                xmlFreeDoc(doc);
                return NULL;
        }
        /* libxml2's own document-order stamp (kept in the otherwise unused content field
         * of elements, -1, -2, ...): it moves with an element, copies and new elements lack
         * it, and it leaves _private to vr-drift. Nothing here runs XPath, which would trust
         * the stamps' order after the rewrite moved elements. */
        xmlXPathOrderDocElems(doc);
        return doc;
}

static size_t decl_len(const char *buf, size_t len) {
        size_t off = 0;
        const char *end;

        /* A BOM may precede the declaration. */
        if (len >= 3 && (guchar) buf[0] == 0xEF && (guchar) buf[1] == 0xBB && (guchar) buf[2] == 0xBF)
                off = 3;
        if (len - off < 5 || memcmp(buf + off, "<?xml", 5) != 0)
                return 0;
        end = g_strstr_len(buf + off, (gssize) (len - off), "?>");
        return end ? (size_t) (end - buf) + 2 : 0;
}

static void count_quotes(const char *buf, size_t from, size_t to, size_t *single, size_t *dbl) {
        for (size_t i = from + 1; i < to; i++) {
                if (buf[i - 1] != '=')
                        continue;
                *single += buf[i] == '\'';
                *dbl += buf[i] == '"';
        }
}

/* Mixed line ends stay as they are where the input is kept; new lines take the most
 * common one, LF on a tie. A lone CR (old Mac files) is as legal a line end as CRLF. */
static const char *detect_newline(const char *buf, size_t len) {
        size_t lf = 0, crlf = 0, cr = 0;

        for (size_t i = 0; i < len; i++) {
                if (buf[i] == '\n') {
                        lf++;
                } else if (buf[i] == '\r' && i + 1 < len && buf[i + 1] == '\n') {
                        crlf++;
                        i++;
                } else if (buf[i] == '\r') {
                        cr++;
                }
        }
        if (crlf > lf && crlf >= cr)
                return "\r\n";
        if (cr > lf && cr > crlf)
                return "\r";
        return "\n";
}

void vr_xml_style_detect(const char *buf, size_t len, VrXmlStyle *ret) {
        size_t dl = decl_len(buf, len), s = 0, d = 0, ms_ = 0, md = 0;
        const char *m = g_strstr_len(buf, (gssize) len, "<metadata");
        const char *me = m ? g_strstr_len(m, (gssize) (len - (size_t) (m - buf)), "</metadata>") : NULL;
        size_t mstart = m ? (size_t) (m - buf) : len, mend = me ? (size_t) (me - buf) : mstart;

        ret->decl = dl ? g_strndup(buf, dl) : NULL;
        ret->src = buf;
        ret->src_len = len;
        ret->newline = detect_newline(buf, len);
        count_quotes(buf, 0, mstart, &s, &d);
        count_quotes(buf, mend, len, &s, &d);
        ret->quote = s > d ? '\'' : '"';
        count_quotes(buf, mstart, mend, &ms_, &md);
        ret->metadata_quote = ms_ > md ? '\'' : md > ms_ ? '"' : ret->quote;
}

void vr_xml_style_clear(VrXmlStyle *s) {
        g_clear_pointer(&s->decl, g_free);
}

static const char *newline_of(const VrXmlStyle *style) {
        return style->newline ? style->newline : "\n";
}

/* s with each "\n" (the tree's only line end) written as the document's line end. */
static void append_lines(GString *out, const char *s, const char *nl) {
        for (const char *e; (e = strchr(s, '\n')); s = e + 1) {
                g_string_append_len(out, s, e - s);
                g_string_append(out, nl);
        }
        g_string_append(out, s);
}

/* quote: the attribute's quote character, or 0 for element text, whose line ends are
 * written as nl. */
static void escape_text(GString *out, const char *s, char quote, const char *nl) {
        for (; *s; s++) {
                switch (*s) {
                case '&': g_string_append(out, "&amp;"); break;
                case '<': g_string_append(out, "&lt;"); break;
                case '>': g_string_append(out, "&gt;"); break;
                case '\r': g_string_append(out, "&#13;"); break;
                case '"': g_string_append(out, quote == '"' ? "&quot;" : "\""); break;
                case '\'': g_string_append(out, quote == '\'' ? "&apos;" : "'"); break;
                case '\n':
                case '\t':
                        /* A raw newline or tab in an attribute would be normalised away. */
                        if (quote)
                                g_string_append_printf(out, "&#%d;", *s);
                        else if (*s == '\n')
                                g_string_append(out, nl);
                        else
                                g_string_append_c(out, *s);
                        break;
                default: g_string_append_c(out, *s);
                }
        }
}

static void append_qname(GString *out, const xmlNs *ns, const xmlChar *name) {
        if (ns && ns->prefix)
                g_string_append_printf(out, "%s:", (const char *) ns->prefix);
        g_string_append(out, (const char *) name);
}

static void append_ns(GString *out, const xmlNs *ns, char quote) {
        g_string_append(out, ns->prefix ? "xmlns:" : "xmlns");
        if (ns->prefix)
                g_string_append(out, (const char *) ns->prefix);
        g_string_append_printf(out, "=%c", quote);
        escape_text(out, (const char *) ns->href, quote, NULL);
        g_string_append_c(out, quote);
}

static void append_attr(GString *out, const xmlAttr *a, char quote) {
        g_autoptr(xmlChar) v = xmlNodeGetContent((const xmlNode *) a);

        append_qname(out, a->ns, a->name);
        g_string_append_printf(out, "=%c", quote);
        escape_text(out, v ? (const char *) v : "", quote, NULL);
        g_string_append_c(out, quote);
}

/*
 * Keeping the input's bytes. libxml2 keeps no byte positions, so the serializer finds
 * them again: a small scanner over the input gives each element's start tag, attributes
 * and end tag in document order, and the input parsed once more gives the pristine tree to
 * compare with; the stamp vr_xml_parse() put on each element (its place in document order)
 * leads from an element of the edited tree to both. An element equal to its pristine self,
 * attributes and children recursively, is copied as written. A changed one keeps the bytes
 * of its name, of each unchanged attribute (and the whitespace before it), of its end tag
 * and of each run of text and comments between its children that is as it was; what is
 * left, new elements and changed values and text, is written anew in the detected quote
 * style. Parsing again, only when something changed, is simpler and safer than a pristine
 * copy kept alive from parse to serialisation by every caller.
 */
typedef struct {
        size_t start;    /* its '<' */
        size_t name_end; /* end of "<qname" */
        size_t tail;     /* what closes the start tag: whitespace, then '>' or "/>" */
        size_t head_end; /* after the start tag */
        size_t close;    /* '<' of its end tag; head_end when self-closing */
        size_t end;      /* after the element */
        guint attr0, n_attrs;
        bool empty;      /* written <x/> */
} ElemSpan;

typedef struct {
        size_t start;    /* the whitespace before it */
        size_t name, name_end;
        size_t value;    /* after the opening quote */
        size_t end;      /* after the closing quote */
} AttrSpan;

typedef struct {
        const char *s;
        size_t len;
        GArray *elems;     /* ElemSpan, in document order */
        GArray *attrs;     /* AttrSpan */
        xmlDoc *pristine;  /* the input parsed again */
        GPtrArray *pnodes; /* the pristine element at each place in document order */
} Source;

static void source_clear(Source *src) {
        g_clear_pointer(&src->elems, g_array_unref);
        g_clear_pointer(&src->attrs, g_array_unref);
        g_clear_pointer(&src->pnodes, g_ptr_array_unref);
        g_clear_pointer(&src->pristine, xmlFreeDoc);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Source, source_clear)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlBuffer, xmlBufferFree)

static bool is_space(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool at(const char *s, size_t len, size_t i, const char *what) {
        size_t n = strlen(what);
        return len - i >= n && memcmp(s + i, what, n) == 0;
}

/* *i to just after the next `what`. */
static bool skip_past(const char *s, size_t len, size_t *i, const char *what) {
        const char *f = g_strstr_len(s + *i, (gssize) (len - *i), what);

        if (!f)
                return false;
        *i = (size_t) (f - s) + strlen(what);
        return true;
}

static bool scan_start_tag(Source *src, size_t *i, GArray *open) {
        const char *s = src->s;
        size_t len = src->len, j = *i + 1;
        ElemSpan e = {.start = *i, .attr0 = src->attrs->len};

        while (j < len && !is_space(s[j]) && s[j] != '/' && s[j] != '>')
                j++;
        e.name_end = j;
        for (;;) {
                AttrSpan a = {.start = j};
                const char *q;

                while (j < len && is_space(s[j]))
                        j++;
                if (j >= len)
                        return false;
                if (s[j] == '>' || s[j] == '/')
                        break;
                a.name = j;
                while (j < len && !is_space(s[j]) && s[j] != '=')
                        j++;
                a.name_end = j;
                while (j < len && is_space(s[j]))
                        j++;
                if (j >= len || s[j++] != '=')
                        return false;
                while (j < len && is_space(s[j]))
                        j++;
                if (j >= len || (s[j] != '"' && s[j] != '\''))
                        return false;
                a.value = j + 1;
                q = memchr(s + a.value, s[j], len - a.value);
                if (!q)
                        return false;
                j = a.end = (size_t) (q - s) + 1;
                g_array_append_val(src->attrs, a);
                e.n_attrs++;
        }
        e.tail = e.n_attrs ? g_array_index(src->attrs, AttrSpan, src->attrs->len - 1).end : e.name_end;
        e.empty = s[j] == '/';
        if (e.empty && !at(s, len, j, "/>"))
                return false;
        e.head_end = j + (e.empty ? 2 : 1);
        e.close = e.end = e.head_end;
        if (!e.empty)
                g_array_append_val(open, src->elems->len);
        g_array_append_val(src->elems, e);
        *i = e.head_end;
        return true;
}

/* *i from "<!DOCTYPE" to just after it, internal subset and all: quoted literals,
 * comments and PIs may hold ']' and '>'. */
static bool skip_doctype(const char *s, size_t len, size_t *i) {
        bool subset = false;

        for (size_t j = *i + 2; j < len; j++) {
                if (s[j] == '"' || s[j] == '\'') {
                        const char *q = memchr(s + j + 1, s[j], len - j - 1);
                        if (!q)
                                return false;
                        j = (size_t) (q - s);
                } else if (subset && at(s, len, j, "<!--")) {
                        if (!skip_past(s, len, &j, "-->"))
                                return false;
                        j--;
                } else if (subset && at(s, len, j, "<?")) {
                        if (!skip_past(s, len, &j, "?>"))
                                return false;
                        j--;
                } else if (s[j] == '[' || s[j] == ']') {
                        subset = s[j] == '[';
                } else if (s[j] == '>' && !subset) {
                        *i = j + 1;
                        return true;
                }
        }
        return false;
}

/* Where each element is, in document order. The input is well-formed (libxml2 parsed it)
 * and declares no entities (vr_xml_parse), so each element is where its tags are written;
 * what this scanner does not expect makes it give up, and the caller writes the whole
 * document anew. */
static bool scan_source(Source *src) {
        g_autoptr(GArray) open = g_array_new(FALSE, FALSE, sizeof(guint));
        const char *s = src->s;
        size_t len = src->len, i = 0;

        for (;;) {
                const char *lt = memchr(s + i, '<', len - i);

                if (!lt)
                        break;
                i = (size_t) (lt - s);
                if (at(s, len, i, "<!--")) {
                        if (!skip_past(s, len, &i, "-->"))
                                return false;
                } else if (at(s, len, i, "<![CDATA[")) {
                        if (!skip_past(s, len, &i, "]]>"))
                                return false;
                } else if (at(s, len, i, "<?")) {
                        if (!skip_past(s, len, &i, "?>"))
                                return false;
                } else if (at(s, len, i, "<!")) {
                        if (!skip_doctype(s, len, &i))
                                return false;
                } else if (at(s, len, i, "</")) {
                        const char *gt = memchr(s + i, '>', len - i);
                        ElemSpan *e;
                        if (!gt || !open->len)
                                return false;
                        e = &g_array_index(src->elems, ElemSpan, g_array_index(open, guint, open->len - 1));
                        g_array_set_size(open, open->len - 1);
                        e->close = i;
                        i = e->end = (size_t) (gt - s) + 1;
                } else if (!scan_start_tag(src, &i, open)) {
                        return false;
                }
        }
        return open->len == 0;
}

static bool same_qname(const xmlNode *a, const xmlNode *b) {
        const xmlChar *pa = a->ns ? a->ns->prefix : NULL, *pb = b->ns ? b->ns->prefix : NULL;

        return xmlStrEqual(a->name, b->name) && xmlStrEqual(pa, pb);
}

/* Elements in document order, as xmlXPathOrderDocElems() numbers them. */
static void collect_elements(xmlNode *n, GPtrArray *out) {
        for (; n; n = n->next) {
                if (n->type != XML_ELEMENT_NODE)
                        continue;
                g_ptr_array_add(out, n);
                collect_elements(n->children, out);
        }
}

static bool source_open(Source *src, const char *s, size_t len) {
        const char *enc;

        *src = (Source){.s = s, .len = len};
        src->elems = g_array_new(FALSE, FALSE, sizeof(ElemSpan));
        src->attrs = g_array_new(FALSE, FALSE, sizeof(AttrSpan));
        src->pnodes = g_ptr_array_new();
        if (len > VR_XML_MAX_SIZE || !scan_source(src))
                return false;
        src->pristine = xmlReadMemory(s, (int) len, NULL, NULL, PARSE_OPTIONS);
        if (!src->pristine)
                return false;
        /* Kept bytes are in the input's encoding, new ones in UTF-8: they must agree. */
        enc = (const char *) src->pristine->encoding;
        if (enc && g_ascii_strcasecmp(enc, "UTF-8") != 0 && g_ascii_strcasecmp(enc, "US-ASCII") != 0)
                return false;
        xmlXPathOrderDocElems(src->pristine);
        collect_elements(src->pristine->children, src->pnodes);
        if (src->pnodes->len != src->elems->len)
                return false;
        for (guint k = 0; k < src->elems->len; k++) {
                const ElemSpan *e = &g_array_index(src->elems, ElemSpan, k);
                const xmlNode *p = src->pnodes->pdata[k];
                g_autoptr(GString) q = g_string_new(NULL);
                append_qname(q, p->ns, p->name);
                if (q->len != e->name_end - e->start - 1 || memcmp(q->str, s + e->start + 1, q->len) != 0)
                        return false; /* the scanner and libxml2 disagree: trust neither */
        }
        return true;
}

/* The pristine element an element of the edited tree was parsed as; NULL for new ones. */
static const xmlNode *pristine_of(const Source *src, const xmlNode *n, const ElemSpan **ret_span) {
        ptrdiff_t place = -(ptrdiff_t) n->content;
        const xmlNode *p;

        if (!src || n->type != XML_ELEMENT_NODE || place <= 0 || (size_t) place > src->pnodes->len)
                return NULL;
        p = src->pnodes->pdata[place - 1];
        if (!same_qname(n, p))
                return NULL;
        if (ret_span)
                *ret_span = &g_array_index(src->elems, ElemSpan, place - 1);
        return p;
}

static const ElemSpan *span_of(const Source *src, const xmlNode *pristine) {
        return &g_array_index(src->elems, ElemSpan, -(ptrdiff_t) pristine->content - 1);
}

static bool same_attrs(const xmlNode *a, const xmlNode *b) {
        const xmlNs *na = a->nsDef, *nb = b->nsDef;
        const xmlAttr *pa = a->properties, *pb = b->properties;

        for (; na && nb; na = na->next, nb = nb->next)
                if (!xmlStrEqual(na->prefix, nb->prefix) || !xmlStrEqual(na->href, nb->href))
                        return false;
        if (na || nb)
                return false;
        for (; pa && pb; pa = pa->next, pb = pb->next) {
                g_autoptr(xmlChar) va = xmlNodeGetContent((const xmlNode *) pa);
                g_autoptr(xmlChar) vb = xmlNodeGetContent((const xmlNode *) pb);
                if (!xmlStrEqual(pa->name, pb->name) || (pa->ns == NULL) != (pb->ns == NULL) ||
                    (pa->ns && !xmlStrEqual(pa->ns->prefix, pb->ns->prefix)) || !xmlStrEqual(va, vb))
                        return false;
        }
        return !pa && !pb;
}

static bool unchanged(const Source *src, const xmlNode *n, const xmlNode *p);

static bool same_node(const Source *src, const xmlNode *n, const xmlNode *p) {
        if (n->type != p->type)
                return false;
        switch (n->type) {
        case XML_ELEMENT_NODE:
                return pristine_of(src, n, NULL) == p && unchanged(src, n, p);
        case XML_ENTITY_REF_NODE:
                return xmlStrEqual(n->name, p->name);
        case XML_PI_NODE:
                return xmlStrEqual(n->name, p->name) && xmlStrEqual(n->content, p->content);
        case XML_DTD_NODE:
                return true;
        default:
                return xmlStrEqual(n->content, p->content);
        }
}

/* n is p as parsed: its attributes, and its children recursively. */
static bool unchanged(const Source *src, const xmlNode *n, const xmlNode *p) {
        const xmlNode *c = n->children, *pc = p->children;

        if (!same_attrs(n, p))
                return false;
        for (; c && pc; c = c->next, pc = pc->next)
                if (!same_node(src, c, pc))
                        return false;
        return !c && !pc;
}

/* A run of non-element nodes (text, comments, ...) between two elements, or between an
 * element and its parent's tags, from `first` up to `stop` (the next element or NULL). */
typedef struct {
        const xmlNode *first, *stop;
        const xmlNode *before; /* the element before it, NULL: it starts its parent */
        const xmlNode *parent;
} Run;

static bool runs_equal(const Source *src, Run a, Run b) {
        for (; a.first != a.stop && b.first != b.stop; a.first = a.first->next, b.first = b.first->next)
                if (!same_node(src, a.first, b.first))
                        return false;
        return a.first == a.stop && b.first == b.stop;
}

static const xmlNode *next_element(const xmlNode *n) {
        for (; n && n->type != XML_ELEMENT_NODE; n = n->next)
                ;
        return n;
}

static Run run_after(const xmlNode *pe) {
        return (Run){pe->next, next_element(pe->next), pe, pe->parent};
}

static Run run_before(const xmlNode *pe) {
        const xmlNode *b = pe->prev;

        for (; b && b->type != XML_ELEMENT_NODE; b = b->prev)
                ;
        return (Run){b ? b->next : pe->parent->children, pe, b, pe->parent};
}

/* The bytes of a pristine run: from the end of the element before it (or of its parent's
 * start tag, or the input's start) to the next element (or its parent's end tag, or the
 * input's end). */
static void append_run_bytes(GString *out, const Source *src, Run r) {
        bool in_elem = r.parent->type == XML_ELEMENT_NODE;
        size_t from = r.before ? span_of(src, r.before)->end : in_elem ? span_of(src, r.parent)->head_end : 0;
        size_t to = r.stop ? span_of(src, r.stop)->start : in_elem ? span_of(src, r.parent)->close : src->len;

        g_string_append_len(out, src->s + from, (gssize) (to - from));
}

static void serialize_node(GString *out, const Source *src, const xmlNode *n, const VrXmlStyle *style,
                           char quote);

/* The run r of the edited tree (p: the pristine parent, NULL if it is new): its bytes in
 * the input where a pristine run it could be is equal to it, else written anew. */
static void serialize_run(GString *out, const Source *src, Run r, const xmlNode *p, const VrXmlStyle *style,
                          char quote) {
        const xmlNode *pb = r.before ? pristine_of(src, r.before, NULL) : NULL;
        const xmlNode *pa = r.stop ? pristine_of(src, r.stop, NULL) : NULL;
        Run cand[4];
        guint n = 0;

        if (pb)
                cand[n++] = run_after(pb);
        if (pa)
                cand[n++] = run_before(pa);
        if (p && !r.before) /* p's first run */
                cand[n++] = (Run){p->children, next_element(p->children), NULL, p};
        if (p && !r.stop) { /* p's last run */
                const xmlNode *last = p->last;
                for (; last && last->type != XML_ELEMENT_NODE; last = last->prev)
                        ;
                cand[n++] = last ? run_after(last) : (Run){p->children, NULL, NULL, p};
        }
        for (guint i = 0; i < n; i++) {
                if (runs_equal(src, r, cand[i])) {
                        append_run_bytes(out, src, cand[i]);
                        return;
                }
        }
        for (const xmlNode *c = r.first; c != r.stop; c = c->next)
                serialize_node(out, src, c, style, quote);
}

static void serialize_children(GString *out, const Source *src, const xmlNode *n, const xmlNode *p,
                               const VrXmlStyle *style, char quote) {
        const xmlNode *before = NULL, *c = n->children;

        while (c) {
                Run r = {c, next_element(c), before, n};
                if (c->type == XML_ELEMENT_NODE) {
                        serialize_node(out, src, c, style, quote);
                        before = c;
                        c = c->next;
                } else {
                        serialize_run(out, src, r, p, style, quote);
                        c = r.stop;
                }
        }
}

static const xmlNs *ns_def(const xmlNode *n, const char *prefix) {
        for (const xmlNs *ns = n->nsDef; ns; ns = ns->next)
                if (g_strcmp0((const char *) ns->prefix, prefix) == 0)
                        return ns;
        return NULL;
}

static const xmlAttr *attr_named(const xmlNode *n, const char *qname, size_t len) {
        for (const xmlAttr *a = n->properties; a; a = a->next) {
                g_autoptr(GString) q = g_string_new(NULL);
                append_qname(q, a->ns, a->name);
                if (q->len == len && memcmp(q->str, qname, len) == 0)
                        return a;
        }
        return NULL;
}

static bool has_newline(const char *s, size_t from, size_t to) {
        return memchr(s + from, '\n', to - from) || memchr(s + from, '\r', to - from);
}

/* The whitespace for an attribute added to the element at span e: one attribute per line
 * (each after the first starts a line) gives the new one a line of its own, indented as
 * the last; any other layout, a space. */
static void append_new_attr_space(GString *out, const Source *src, const ElemSpan *e) {
        const AttrSpan *last = NULL;

        for (guint i = 1; i < e->n_attrs; i++) {
                last = &g_array_index(src->attrs, AttrSpan, e->attr0 + i);
                if (!has_newline(src->s, last->start, last->name))
                        last = NULL;
                if (!last)
                        break;
        }
        if (last)
                g_string_append_len(out, src->s + last->start, (gssize) (last->name - last->start));
        else
                g_string_append_c(out, ' ');
}

/* "<qname" and the attributes of a changed element that was parsed (p, at span e): each
 * attribute still there keeps its place, the whitespace before it and its quote, and its
 * bytes when its value is unchanged; new ones follow, written anew, laid out as the others
 * (append_new_attr_space). An attribute that shared a line with a removed one that started
 * it takes that one's line break, so the line stays a line, not joined to the one before. */
static void append_kept_start(GString *out, const Source *src, const ElemSpan *e, const xmlNode *n,
                              const xmlNode *p, char quote) {
        g_autoptr(GHashTable) written = g_hash_table_new(NULL, NULL);
        const AttrSpan *removed = NULL; /* the first of the removed ones just before */

        g_string_append_len(out, src->s + e->start, (gssize) (e->name_end - e->start));
        for (guint i = 0; i < e->n_attrs; i++) {
                const AttrSpan *a = &g_array_index(src->attrs, AttrSpan, e->attr0 + i);
                const AttrSpan *ws = a;
                const char *name = src->s + a->name;
                size_t name_len = a->name_end - a->name;
                g_autoptr(xmlChar) now = NULL, was = NULL;
                const void *kept;
                char q = src->s[a->value - 1];

                if (name_len >= 5 && memcmp(name, "xmlns", 5) == 0 && (name_len == 5 || name[5] == ':')) {
                        g_autofree char *prefix = name_len > 6 ? g_strndup(name + 6, name_len - 6) : NULL;
                        const xmlNs *ns = ns_def(n, prefix), *pns = ns_def(p, prefix);
                        kept = ns;
                        now = ns ? xmlStrdup(ns->href) : NULL;
                        was = pns ? xmlStrdup(pns->href) : NULL;
                } else {
                        const xmlAttr *at = attr_named(n, name, name_len), *pat = attr_named(p, name, name_len);
                        kept = at;
                        now = at ? xmlNodeGetContent((const xmlNode *) at) : NULL;
                        was = pat ? xmlNodeGetContent((const xmlNode *) pat) : NULL;
                }
                if (!kept) {
                        if (!removed)
                                removed = a;
                        continue;
                }
                if (removed && has_newline(src->s, removed->start, removed->name) &&
                    !has_newline(src->s, a->start, a->name))
                        ws = removed;
                removed = NULL;
                g_hash_table_add(written, (gpointer) kept);
                g_string_append_len(out, src->s + ws->start, (gssize) (ws->name - ws->start));
                if (xmlStrEqual(now, was)) {
                        g_string_append_len(out, src->s + a->name, (gssize) (a->end - a->name));
                        continue;
                }
                g_string_append_len(out, src->s + a->name, (gssize) (a->value - a->name));
                escape_text(out, now ? (const char *) now : "", q, NULL);
                g_string_append_c(out, q);
        }
        for (const xmlNs *ns = n->nsDef; ns; ns = ns->next) {
                if (g_hash_table_contains(written, ns))
                        continue;
                append_new_attr_space(out, src, e);
                append_ns(out, ns, quote);
        }
        for (const xmlAttr *a = n->properties; a; a = a->next) {
                if (g_hash_table_contains(written, a))
                        continue;
                append_new_attr_space(out, src, e);
                append_attr(out, a, quote);
        }
}

static void serialize_element(GString *out, const Source *src, const xmlNode *n, const VrXmlStyle *style,
                              char quote) {
        const ElemSpan *e = NULL;
        const xmlNode *p = pristine_of(src, n, &e);

        if (p && unchanged(src, n, p)) {
                g_string_append_len(out, src->s + e->start, (gssize) (e->end - e->start));
                return;
        }
        if (p) {
                append_kept_start(out, src, e, n, p, quote);
        } else {
                g_string_append_c(out, '<');
                append_qname(out, n->ns, n->name);
                for (const xmlNs *ns = n->nsDef; ns; ns = ns->next) {
                        g_string_append_c(out, ' ');
                        append_ns(out, ns, quote);
                }
                for (const xmlAttr *a = n->properties; a; a = a->next) {
                        g_string_append_c(out, ' ');
                        append_attr(out, a, quote);
                }
        }
        /* An empty element written <x></x> stays so (KubeVirt writes every empty one that
         * way); one that lost all its children closes as <x/>. */
        if (!n->children && (!p || e->empty || p->children)) {
                if (p && e->empty)
                        g_string_append_len(out, src->s + e->tail, (gssize) (e->head_end - e->tail));
                else if (p)
                        g_string_append_printf(out, "%.*s/>", (int) (e->head_end - 1 - e->tail), src->s + e->tail);
                else
                        g_string_append(out, "/>");
                return;
        }
        if (p && !e->empty)
                g_string_append_len(out, src->s + e->tail, (gssize) (e->head_end - e->tail));
        else
                g_string_append_c(out, '>'); /* <x/> that has children now */
        serialize_children(out, src, n, p, style,
                           vr_xml_is(n, NULL, "metadata") ? style->metadata_quote : quote);
        if (p && !e->empty) {
                g_string_append_len(out, src->s + e->close, (gssize) (e->end - e->close));
        } else {
                g_string_append(out, "</");
                append_qname(out, n->ns, n->name);
                g_string_append_c(out, '>');
        }
}

/* src NULL: everything written anew. */
static void serialize_node(GString *out, const Source *src, const xmlNode *n, const VrXmlStyle *style,
                           char quote) {
        const char *nl = newline_of(style);

        switch (n->type) {
        case XML_ELEMENT_NODE:
                serialize_element(out, src, n, style, quote);
                break;
        case XML_TEXT_NODE:
                escape_text(out, (const char *) n->content, 0, nl);
                break;
        case XML_CDATA_SECTION_NODE:
                g_string_append(out, "<![CDATA[");
                append_lines(out, (const char *) n->content, nl);
                g_string_append(out, "]]>");
                break;
        case XML_COMMENT_NODE:
                g_string_append(out, "<!--");
                append_lines(out, (const char *) n->content, nl);
                g_string_append(out, "-->");
                break;
        case XML_PI_NODE:
                g_string_append_printf(out, "<?%s%s", (const char *) n->name, n->content ? " " : "");
                append_lines(out, n->content ? (const char *) n->content : "", nl);
                g_string_append(out, "?>");
                break;
        case XML_ENTITY_REF_NODE:
                g_string_append_printf(out, "&%s;", (const char *) n->name);
                break;
        case XML_DTD_NODE: {
                /* Only when the prolog is written anew (the input is not UTF-8, or the
                 * caller wants another declaration). It declares no entities, as
                 * vr_xml_parse() refuses those, but an ATTLIST may give an attribute a
                 * default: dropping it would change the domain. */
                g_autoptr(xmlBuffer) b = xmlBufferCreate();
                xmlNodeDump(b, n->doc, (xmlNode *) n, 0, 0);
                append_lines(out, (const char *) xmlBufferContent(b), nl);
                break;
        }
        default:
                break;
        }
}

/* Top-level nodes written anew: like libxml2 and libvirt, each on its own line. */
static void serialize_top(GString *out, const xmlNode *first, const xmlNode *stop, const VrXmlStyle *style) {
        for (const xmlNode *n = first; n != stop; n = n->next) {
                serialize_node(out, NULL, n, style, style->quote);
                g_string_append(out, newline_of(style));
        }
}

char *vr_xml_serialize(xmlDoc *doc, const VrXmlStyle *style, size_t *ret_len) {
        static const VrXmlStyle plain = {NULL, '"', '"', NULL, 0, "\n"};
        g_auto(Source) src = {0};
        const xmlNode *root = xmlDocGetRootElement(doc), *proot = NULL;
        GString *out = g_string_new(NULL);

        if (!style)
                style = &plain;
        if (style->src && root && source_open(&src, style->src, style->src_len))
                proot = pristine_of(&src, root, NULL);
        if (!proot) {
                if (style->decl)
                        g_string_append_printf(out, "%s%s", style->decl, newline_of(style));
                serialize_top(out, doc->children, NULL, style);
        } else {
                const xmlNode *pdoc = (const xmlNode *) src.pristine;
                Run prolog = {doc->children, root, NULL, (const xmlNode *) doc};
                Run pprolog = {pdoc->children, proot, NULL, pdoc};
                Run epilog = {root->next, NULL, root, (const xmlNode *) doc};
                Run pepilog = {proot->next, NULL, proot, pdoc};
                size_t dl = decl_len(src.s, src.len);
                g_autofree char *decl = dl ? g_strndup(src.s, dl) : NULL;

                /* The prolog (declaration, comments, blank lines) as it was, unless the
                 * caller wants another declaration (render wants none). */
                if (g_strcmp0(decl, style->decl) == 0 && runs_equal(&src, prolog, pprolog)) {
                        append_run_bytes(out, &src, pprolog);
                } else {
                        if (style->decl)
                                g_string_append_printf(out, "%s%s", style->decl, newline_of(style));
                        serialize_top(out, prolog.first, root, style);
                }
                serialize_node(out, &src, root, style, style->quote);
                if (runs_equal(&src, epilog, pepilog)) {
                        append_run_bytes(out, &src, pepilog);
                } else {
                        g_string_append(out, newline_of(style));
                        serialize_top(out, epilog.first, NULL, style);
                }
        }
        if (ret_len)
                *ret_len = out->len;
        return g_string_free(out, FALSE);
}

bool vr_xml_is(const xmlNode *n, const char *ns, const char *name) {
        if (!n || n->type != XML_ELEMENT_NODE || !xmlStrEqual(n->name, BAD_CAST name))
                return false;
        if (!ns)
                return n->ns == NULL;
        return n->ns && xmlStrEqual(n->ns->href, BAD_CAST ns);
}

xmlNode *vr_xml_first(const xmlNode *parent) {
        for (xmlNode *c = parent ? parent->children : NULL; c; c = c->next)
                if (c->type == XML_ELEMENT_NODE)
                        return c;
        return NULL;
}

xmlNode *vr_xml_next(xmlNode *n) {
        for (n = n ? n->next : NULL; n; n = n->next)
                if (n->type == XML_ELEMENT_NODE)
                        return n;
        return NULL;
}

xmlNode *vr_xml_child(const xmlNode *parent, const char *ns, const char *name) {
        for (xmlNode *c = vr_xml_first(parent); c; c = vr_xml_next(c))
                if (vr_xml_is(c, ns, name))
                        return c;
        return NULL;
}

char *vr_xml_prop(const xmlNode *n, const char *name) {
        g_autoptr(xmlChar) v = NULL;

        if (!n)
                return NULL;
        v = xmlGetNoNsProp(n, BAD_CAST name);
        return v ? g_strdup((const char *) v) : NULL;
}

char *vr_xml_text(const xmlNode *n) {
        g_autoptr(xmlChar) v = NULL;

        if (!n)
                return NULL;
        v = xmlNodeGetContent(n);
        return g_strstrip(g_strdup(v ? (const char *) v : ""));
}

long vr_xml_line(const xmlNode *n) {
        return n ? xmlGetLineNo(n) : 0;
}

bool vr_xml_set_prop(xmlNode *n, const char *name, const char *value) {
        g_autofree char *old = vr_xml_prop(n, name);

        if (g_strcmp0(old, value) == 0)
                return false;
        xmlSetProp(n, BAD_CAST name, BAD_CAST value);
        return true;
}

bool vr_xml_unset_prop(xmlNode *n, const char *name) {
        xmlAttr *a = xmlHasNsProp(n, BAD_CAST name, NULL);

        if (!a)
                return false;
        xmlRemoveProp(a);
        return true;
}

bool vr_xml_set_text(xmlNode *n, const char *text) {
        g_autofree char *old = vr_xml_text(n);

        if (g_strcmp0(old, text) == 0 && vr_xml_first(n) == NULL)
                return false;
        xmlNodeSetContent(n, NULL);
        xmlNodeAddContent(n, BAD_CAST text);
        return true;
}

static bool is_blank_text(const xmlNode *n) {
        return n && n->type == XML_TEXT_NODE && xmlIsBlankNode((xmlNode *) n);
}

/* The whitespace that precedes n's start tag, or NULL when n sits on the same line as
 * its neighbours (no layout to follow). */
static const char *leading_ws(const xmlNode *n) {
        return is_blank_text(n->prev) ? (const char *) n->prev->content : NULL;
}

/* Indentation of parent's children: taken from an existing child, else derived from the
 * parent's own indentation plus two spaces. NULL when the document has no layout. */
static char *child_indent(const xmlNode *parent) {
        const char *ws;

        for (xmlNode *c = vr_xml_first(parent); c; c = vr_xml_next(c))
                if ((ws = leading_ws(c)))
                        return g_strdup(ws);
        if (vr_xml_first(parent))
                return NULL;
        if (parent->type == XML_ELEMENT_NODE && (ws = leading_ws(parent)))
                return g_strconcat(ws, "  ", NULL);
        if (parent->parent && parent->parent->type == XML_DOCUMENT_NODE)
                return g_strdup("\n  "); /* the root element */
        return NULL;
}

static xmlNode *new_text(xmlDoc *doc, const char *s) {
        return xmlNewDocText(doc, BAD_CAST s);
}

/* Lay out a new subtree whose root will be indented by `indent` ("\n" + spaces). */
static void indent_subtree(xmlNode *n, const char *indent) {
        g_autofree char *inner = NULL;
        xmlNode *c, *next;

        if (!indent || !vr_xml_first(n))
                return;
        for (c = n->children; c; c = c->next)
                if (c->type == XML_TEXT_NODE)
                        return; /* laid out already (copied from a user's file) */
        inner = g_strconcat(indent, "  ", NULL);
        for (c = n->children; c; c = next) {
                next = c->next;
                if (c->type != XML_ELEMENT_NODE)
                        continue;
                xmlAddPrevSibling(c, new_text(n->doc, inner));
                indent_subtree(c, inner);
        }
        xmlAddChild(n, new_text(n->doc, indent));
}

void vr_xml_insert(xmlNode *parent, xmlNode *after, xmlNode *child) {
        g_autofree char *indent = child_indent(parent);

        xmlSetTreeDoc(child, parent->doc);
        if (!after) {
                xmlNode *last = NULL;
                for (xmlNode *c = vr_xml_first(parent); c; c = vr_xml_next(c))
                        last = c;
                after = last;
        }
        if (after) {
                xmlAddNextSibling(after, child);
                if (indent)
                        xmlAddPrevSibling(child, new_text(parent->doc, indent));
        } else {
                /* Parent had no element children: it may be <x/> or <x>  </x>. */
                g_autofree char *closing = NULL;
                if (indent) {
                        const char *pws = leading_ws(parent);
                        closing = g_strdup(pws ? pws : "\n");
                }
                for (xmlNode *c = parent->children, *next; c; c = next) {
                        next = c->next;
                        if (is_blank_text(c)) {
                                xmlUnlinkNode(c);
                                xmlFreeNode(c);
                        }
                }
                if (indent)
                        xmlAddChild(parent, new_text(parent->doc, indent));
                xmlAddChild(parent, child);
                if (closing)
                        xmlAddChild(parent, new_text(parent->doc, closing));
        }
        indent_subtree(child, indent);
}

void vr_xml_replace(xmlNode *old_node, xmlNode *new_node) {
        const char *ws = leading_ws(old_node);

        /* The new element takes over the old one's document-order stamp (vr_xml_parse), so
         * the serializer writes it as the old one changed: its start tag's layout and
         * unchanged attributes, and its end tag (<x></x> stays so), as in the input. */
        if (old_node->type == XML_ELEMENT_NODE && new_node->type == XML_ELEMENT_NODE && !new_node->content)
                new_node->content = old_node->content;
        xmlSetTreeDoc(new_node, old_node->doc);
        xmlReplaceNode(old_node, new_node);
        xmlFreeNode(old_node);
        indent_subtree(new_node, ws);
}

void vr_xml_strip_blanks(xmlNode *n) {
        for (xmlNode *c = n->children, *next; c; c = next) {
                next = c->next;
                if (is_blank_text(c)) {
                        xmlUnlinkNode(c);
                        xmlFreeNode(c);
                } else if (c->type == XML_ELEMENT_NODE) {
                        vr_xml_strip_blanks(c);
                }
        }
}

void vr_xml_remove(xmlNode *n) {
        if (is_blank_text(n->prev)) {
                xmlNode *ws = n->prev;
                xmlUnlinkNode(ws);
                xmlFreeNode(ws);
        }
        xmlUnlinkNode(n);
        xmlFreeNode(n);
}

xmlNode *vr_xml_new(const char *name, ...) {
        xmlNode *n = xmlNewNode(NULL, BAD_CAST name);
        va_list ap;
        const char *k;

        va_start(ap, name);
        while ((k = va_arg(ap, const char *))) {
                const char *v = va_arg(ap, const char *);
                if (v)
                        xmlSetProp(n, BAD_CAST k, BAD_CAST v);
        }
        va_end(ap);
        return n;
}

static bool attrs_subset(const xmlNode *a, const xmlNode *b) {
        for (xmlAttr *p = a->properties; p; p = p->next) {
                g_autoptr(xmlChar) va = xmlNodeGetContent((xmlNode *) p);
                g_autoptr(xmlChar) vb = xmlGetNsProp(b, p->name, p->ns ? p->ns->href : NULL);
                if (!vb || !xmlStrEqual(va, vb))
                        return false;
        }
        return true;
}

bool vr_xml_equal(const xmlNode *a, const xmlNode *b) {
        const xmlNode *ca, *cb;

        if (a->type != b->type)
                return false;
        if (a->type == XML_TEXT_NODE || a->type == XML_COMMENT_NODE)
                return xmlStrEqual(a->content, b->content);
        if (a->type != XML_ELEMENT_NODE || !xmlStrEqual(a->name, b->name))
                return false;
        if ((a->ns == NULL) != (b->ns == NULL) || (a->ns && !xmlStrEqual(a->ns->href, b->ns->href)))
                return false;
        if (!attrs_subset(a, b) || !attrs_subset(b, a))
                return false;
        ca = a->children;
        cb = b->children;
        for (;;) {
                while (ca && is_blank_text(ca))
                        ca = ca->next;
                while (cb && is_blank_text(cb))
                        cb = cb->next;
                if (!ca || !cb)
                        return ca == cb;
                if (!vr_xml_equal(ca, cb))
                        return false;
                ca = ca->next;
                cb = cb->next;
        }
}

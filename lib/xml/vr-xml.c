#include "config.h"

#include <stdarg.h>
#include <string.h>
#include <libxml/parser.h>

#include "vr-error.h"
#include "vr-xml.h"

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
        pctx = xmlNewParserCtxt();
        if (!pctx)
                g_error("out of memory");
        xmlSetStructuredErrorFunc(&ctx, collect_error);
        /* No network, no entity expansion, no DTD loading: a hook reads untrusted input. */
        doc = xmlCtxtReadMemory(pctx, buf, (int) len, what, NULL,
                                XML_PARSE_NONET | XML_PARSE_BIG_LINES | XML_PARSE_NOWARNING |
                                        XML_PARSE_NOERROR);
        xmlSetStructuredErrorFunc(NULL, NULL);
        xmlFreeParserCtxt(pctx);
        if (!doc || !xmlDocGetRootElement(doc)) {
                g_set_error(error, VR_ERROR, VR_ERROR_INVALID, "%s: not well-formed XML: %s",
                            what, msg->len ? msg->str : "no root element");
                xmlFreeDoc(doc);
                return NULL;
        }
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

void vr_xml_style_detect(const char *buf, size_t len, VrXmlStyle *ret) {
        size_t dl = decl_len(buf, len), s = 0, d = 0, ms_ = 0, md = 0;
        const char *m = g_strstr_len(buf, (gssize) len, "<metadata");
        const char *me = m ? g_strstr_len(m, (gssize) (len - (size_t) (m - buf)), "</metadata>") : NULL;
        size_t mstart = m ? (size_t) (m - buf) : len, mend = me ? (size_t) (me - buf) : mstart;

        ret->decl = dl ? g_strndup(buf, dl) : NULL;
        count_quotes(buf, 0, mstart, &s, &d);
        count_quotes(buf, mend, len, &s, &d);
        ret->quote = s > d ? '\'' : '"';
        count_quotes(buf, mstart, mend, &ms_, &md);
        ret->metadata_quote = ms_ > md ? '\'' : md > ms_ ? '"' : ret->quote;
}

void vr_xml_style_clear(VrXmlStyle *s) {
        g_clear_pointer(&s->decl, g_free);
}

/* quote: the attribute's quote character, or 0 for element text. */
static void escape_text(GString *out, const char *s, char quote) {
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

static void serialize_node(GString *out, const xmlNode *n, const VrXmlStyle *style, char quote) {
        switch (n->type) {
        case XML_ELEMENT_NODE:
                g_string_append_c(out, '<');
                append_qname(out, n->ns, n->name);
                for (const xmlNs *ns = n->nsDef; ns; ns = ns->next) {
                        g_string_append(out, ns->prefix ? " xmlns:" : " xmlns");
                        if (ns->prefix)
                                g_string_append(out, (const char *) ns->prefix);
                        g_string_append_printf(out, "=%c", quote);
                        escape_text(out, (const char *) ns->href, quote);
                        g_string_append_c(out, quote);
                }
                for (const xmlAttr *a = n->properties; a; a = a->next) {
                        g_autoptr(xmlChar) v = xmlNodeGetContent((const xmlNode *) a);
                        g_string_append_c(out, ' ');
                        append_qname(out, a->ns, a->name);
                        g_string_append_printf(out, "=%c", quote);
                        escape_text(out, v ? (const char *) v : "", quote);
                        g_string_append_c(out, quote);
                }
                if (!n->children) {
                        g_string_append(out, "/>");
                        break;
                }
                g_string_append_c(out, '>');
                for (const xmlNode *c = n->children; c; c = c->next)
                        serialize_node(out, c, style,
                                       vr_xml_is(n, NULL, "metadata") ? style->metadata_quote : quote);
                g_string_append(out, "</");
                append_qname(out, n->ns, n->name);
                g_string_append_c(out, '>');
                break;
        case XML_TEXT_NODE:
                escape_text(out, (const char *) n->content, 0);
                break;
        case XML_CDATA_SECTION_NODE:
                g_string_append_printf(out, "<![CDATA[%s]]>", (const char *) n->content);
                break;
        case XML_COMMENT_NODE:
                g_string_append_printf(out, "<!--%s-->", (const char *) n->content);
                break;
        case XML_PI_NODE:
                g_string_append_printf(out, "<?%s%s%s?>", (const char *) n->name,
                                       n->content ? " " : "", n->content ? (const char *) n->content : "");
                break;
        case XML_ENTITY_REF_NODE:
                g_string_append_printf(out, "&%s;", (const char *) n->name);
                break;
        default:
                break; /* DTD nodes: libvirt domain XML has none */
        }
}

char *vr_xml_serialize(xmlDoc *doc, const VrXmlStyle *style, size_t *ret_len) {
        static const VrXmlStyle plain = {NULL, '"', '"'};
        GString *out;

        if (!style)
                style = &plain;
        out = g_string_new(style->decl);
        if (style->decl)
                g_string_append_c(out, '\n');
        /* Like libxml2 and libvirt: each top-level node on its own line. */
        for (const xmlNode *n = doc->children; n; n = n->next) {
                if (n->type == XML_DTD_NODE)
                        continue;
                serialize_node(out, n, style, style->quote);
                g_string_append_c(out, '\n');
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

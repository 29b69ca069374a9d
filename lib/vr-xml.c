#include "config.h"

#include <stdarg.h>
#include <string.h>
#include <libxml/parser.h>
#include <libxml/xmlsave.h>

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

bool vr_xml_has_decl(const char *buf, size_t len) {
        /* A BOM may precede the declaration. */
        if (len >= 3 && (guchar) buf[0] == 0xEF && (guchar) buf[1] == 0xBB && (guchar) buf[2] == 0xBF) {
                buf += 3;
                len -= 3;
        }
        return len >= 5 && memcmp(buf, "<?xml", 5) == 0;
}

char *vr_xml_serialize(xmlDoc *doc, bool with_decl, size_t *ret_len) {
        xmlBufferPtr buf = xmlBufferCreate();
        xmlSaveCtxtPtr save;
        char *out;

        save = xmlSaveToBuffer(buf, "UTF-8", with_decl ? 0 : XML_SAVE_NO_DECL);
        xmlSaveDoc(save, doc);
        xmlSaveClose(save);
        out = g_strndup((const char *) xmlBufferContent(buf), (gsize) xmlBufferLength(buf));
        if (ret_len)
                *ret_len = (size_t) xmlBufferLength(buf);
        xmlBufferFree(buf);
        return out;
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

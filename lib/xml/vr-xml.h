/* libxml2 helpers: parsing with line numbers, namespace-aware lookups, and edits that
 * keep the user's layout (whitespace, comments, order) around what we change. */
#pragma once

#include <stdbool.h>
#include <libxml/tree.h>

#include "vr-macros.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlDoc, xmlFreeDoc)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlChar, xmlFree)

#define VR_XML_MAX_SIZE (10 * 1024 * 1024) /* libvirt's own limit on domain XML */

/* Parse a document; the error names `what` (a file name or "<stdin>") and the line.
 * Entity declarations and references (but &lt; &gt; &amp; &apos; &quot; and &#N;) are
 * refused: libvirt writes none, and their text would not be in the document.
 * Each element is stamped with its place in document order, so that vr_xml_serialize()
 * can find its bytes in the input again. */
xmlDoc *vr_xml_parse(const char *buf, size_t len, const char *what, GError **error);
/* Whether buf is text a domain XML can be: no NUL byte (libvirt hands hooks its XML as a C
 * string, so a NUL cannot come from it, and UTF-16 and UTF-32 have them in every ASCII
 * character). false with VR_ERROR_INVALID naming the offset. vr_xml_parse checks it, and
 * refuses a declared encoding other than UTF-8 (libvirt writes UTF-8 and no declaration). */
bool vr_xml_check_text(const char *buf, size_t len, const char *what, GError **error);
/* How the input was written, so that output differs only where we changed something:
 * the input itself, its own XML declaration, and the attribute quote it used for what is
 * written anew (libvirt writes its elements with ', but dumps <metadata> contents through
 * libxml2 with "). */
typedef struct {
        char *decl;          /* NULL: the input had none */
        char quote;          /* outside <metadata> */
        char metadata_quote; /* inside <metadata> */
        const char *src;     /* the input the document was parsed from (borrowed), or NULL */
        size_t src_len;
        /* The line end the input uses most, "\r\n", "\r" or "\n" (NULL: "\n"), for new
         * lines: the parser reads each as "\n", so the tree cannot tell. */
        const char *newline;
} VrXmlStyle;

/* Also keeps buf in ret->src: buf must outlive the vr_xml_serialize() calls with ret. */
void vr_xml_style_detect(const char *buf, size_t len, VrXmlStyle *ret);
void vr_xml_style_clear(VrXmlStyle *s);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VrXmlStyle, vr_xml_style_clear)
/* With style->src (doc parsed from it by vr_xml_parse), every element that is as parsed
 * is copied from the input byte for byte, and so is every unchanged attribute, end tag,
 * text, comment and the prolog and epilog of a changed one: only what changed is written
 * anew, with style->newline. style NULL: the whole document written anew, no
 * declaration, double quotes, LF. */
char *vr_xml_serialize(xmlDoc *doc, const VrXmlStyle *style, size_t *ret_len);

bool vr_xml_is(const xmlNode *n, const char *ns, const char *name);
/* First element child with this name in no namespace (ns NULL) or in namespace ns. */
xmlNode *vr_xml_child(const xmlNode *parent, const char *ns, const char *name);
xmlNode *vr_xml_next(xmlNode *n); /* next element sibling */
xmlNode *vr_xml_first(const xmlNode *parent); /* first element child */
/* g_strdup of an attribute in no namespace, NULL if absent. */
char *vr_xml_prop(const xmlNode *n, const char *name);
/* Text content of an element, trimmed; NULL if no element. */
char *vr_xml_text(const xmlNode *n);
long vr_xml_line(const xmlNode *n);

/* Set an attribute; returns true if the document changed. */
bool vr_xml_set_prop(xmlNode *n, const char *name, const char *value);
/* Remove an attribute; true if it was there. */
bool vr_xml_unset_prop(xmlNode *n, const char *name);
/* Set an element's only text; true if changed. */
bool vr_xml_set_text(xmlNode *n, const char *text);

/* Insert `child` (a new, unlinked subtree) into parent after `after` (NULL: as last
 * element child), indented like its siblings; the subtree itself is indented to match. */
void vr_xml_insert(xmlNode *parent, xmlNode *after, xmlNode *child);
/* Replace old by new in place (same indentation); frees old. new takes over old's place
 * in document order: the serializer keeps what it can of old's bytes (start tag layout,
 * unchanged attributes, <x></x>). */
void vr_xml_replace(xmlNode *old_node, xmlNode *new_node);
/* Drop whitespace-only text below n, so vr_xml_insert/replace lay it out afresh. */
void vr_xml_strip_blanks(xmlNode *n);
/* Unlink and free an element with the whitespace that introduced it. */
void vr_xml_remove(xmlNode *n);
/* New element with attributes given as NULL-terminated name, value pairs. */
xmlNode *vr_xml_new(const char *name, ...) G_GNUC_NULL_TERMINATED;
/* Structural equality (names, namespaces, attributes, element children; whitespace-only
 * text ignored). */
bool vr_xml_equal(const xmlNode *a, const xmlNode *b);

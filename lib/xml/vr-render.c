#include "config.h"

#include <string.h>

#include "vr-error.h"
#include "vr-render.h"
#include "vr-xml.h"

const char *const vr_template_names[] = {"kvm-macvtap", "kvm-vf", "lxc-macvlan", "lxc-vf", NULL};

const char *vr_template_dir(const char *override) {
        const char *env = g_getenv("VIRT_ROUTER_TEMPLATE_DIR");

        if (override)
                return override;
        return env && *env ? env : PKGDATADIR;
}

static bool render_fail(GError **error, const char *fmt, ...) _printf_(2, 3);
static bool render_fail(GError **error, const char *fmt, ...) {
        g_autofree char *msg = NULL;
        va_list ap;

        va_start(ap, fmt);
        msg = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        g_set_error_literal(error, VR_ERROR, VR_ERROR_USAGE, msg);
        return false;
}

char *vr_uuid_v5(const char *ns, const char *name) {
        g_autoptr(GChecksum) sha1 = g_checksum_new(G_CHECKSUM_SHA1);
        guint8 ns_bytes[16], d[20];
        gsize len = sizeof d;
        const char *p = ns;

        if (!ns || !g_uuid_string_is_valid(ns))
                return NULL;
        for (int i = 0; i < 16; i++) {
                if (*p == '-')
                        p++;
                ns_bytes[i] = (guint8) (g_ascii_xdigit_value(p[0]) << 4 | g_ascii_xdigit_value(p[1]));
                p += 2;
        }
        g_checksum_update(sha1, ns_bytes, sizeof ns_bytes);
        g_checksum_update(sha1, (const guchar *) name, (gssize) strlen(name));
        g_checksum_get_digest(sha1, d, &len);
        d[6] = (guint8) ((d[6] & 0x0f) | 0x50); /* version 5 */
        d[8] = (guint8) ((d[8] & 0x3f) | 0x80); /* RFC variant */
        return g_strdup_printf("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", d[0], d[1],
                               d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11], d[12], d[13], d[14],
                               d[15]);
}

/* libvirt refuses to define a domain over an existing one of the same name unless the
 * <uuid> matches: give the rendered domain one, stable for its name. */
static bool set_uuid(xmlNode *root, const char *name, const char *uuid, GError **error) {
        xmlNode *have = vr_xml_child(root, NULL, "uuid");
        g_autofree char *want = NULL;

        if (uuid) {
                if (!g_uuid_string_is_valid(uuid))
                        return render_fail(error, "--uuid '%s': expected a UUID such as %s", uuid, VR_UUID_NAMESPACE);
                want = g_ascii_strdown(uuid, -1);
        } else if (have) {
                return true; /* the template's own */
        } else {
                want = vr_uuid_v5(VR_UUID_NAMESPACE, name);
        }
        if (have) {
                vr_xml_set_text(have, want);
        } else {
                have = xmlNewNode(NULL, BAD_CAST "uuid");
                xmlNodeAddContent(have, BAD_CAST want);
                vr_xml_insert(root, vr_xml_child(root, NULL, "name"), have);
        }
        return true;
}

static char *substitute(const char *text, const char *const *pairs) {
        GString *s = g_string_new(text);
        for (; pairs[0]; pairs += 2)
                g_string_replace(s, pairs[0], pairs[1], 0);
        return g_string_free(s, FALSE);
}

static xmlNode *router_of(xmlDoc *doc) {
        xmlNode *md = vr_xml_child(xmlDocGetRootElement(doc), NULL, "metadata");
        return vr_xml_child(md, VR_NS, "router");
}

static bool set_child_text(xmlNode *root, const char *name, const char *text) {
        xmlNode *n = vr_xml_child(root, NULL, name);
        if (!n)
                return false;
        vr_xml_set_text(n, text);
        return true;
}

static void set_ns_below(xmlNode *n, xmlNs *ns) {
        for (; n; n = n->next) {
                if (n->type != XML_ELEMENT_NODE)
                        continue;
                if (!n->ns)
                        xmlSetNs(n, ns);
                set_ns_below(n->children, ns);
        }
}

/* `virsh metadata NAME urn:virt-router:1` prints the policy without its namespace
 * (<router><cpu .../>...</router>): put back what libvirt took off, as libvirt itself
 * does at --set, so that output can be a --policy file. */
static void into_vr_namespace(xmlNode *router) {
        xmlNs *ns = xmlSearchNsByHref(router->doc, router, BAD_CAST VR_NS);

        if (!ns || !ns->prefix)
                ns = xmlNewNs(router, BAD_CAST VR_NS, BAD_CAST "vr");
        if (!ns) /* "vr" names another namespace there */
                return;
        xmlSetNs(router, ns);
        set_ns_below(router->children, ns);
}

static bool replace_policy(xmlDoc *doc, const char *file, GError **error) {
        g_autofree char *buf = NULL;
        g_autoptr(GError) local = NULL;
        g_autoptr(xmlDoc) pdoc = NULL;
        xmlNode *proot, *old = router_of(doc);
        gsize len = 0;

        if (!g_file_get_contents(file, &buf, &len, &local)) {
                g_set_error(error, VR_ERROR, VR_ERROR_HOST, "--policy %s: %s", file, local->message);
                return false;
        }
        pdoc = vr_xml_parse(buf, len, file, error);
        if (!pdoc)
                return false;
        proot = xmlDocGetRootElement(pdoc);
        if (vr_xml_is(proot, NULL, "router"))
                into_vr_namespace(proot);
        if (!vr_xml_is(proot, VR_NS, "router")) {
                g_set_error(error, VR_ERROR, VR_ERROR_INVALID,
                            "%s:%ld: root element <%s>: expected <vr:router xmlns:vr='%s'>", file,
                            vr_xml_line(proot), proot->name, VR_NS);
                return false;
        }
        proot = xmlDocCopyNode(proot, doc, 1);
        vr_xml_strip_blanks(proot); /* laid out like the template around it */
        vr_xml_replace(old, proot);
        return true;
}

/* "wan=eth0,vlan=100,queue=40" -> a <vr:port>. DEV is the port's dev= for macvtap and
 * macvlan ports, its pf= for VF ports. */
static xmlNode *port_from_option(const char *opt, const char *default_mode, xmlNs *ns,
                                 GError **error) {
        g_auto(GStrv) parts = g_strsplit(opt, ",", -1);
        g_auto(GStrv) head = g_strsplit(parts[0] ? parts[0] : "", "=", 2);
        g_autofree char *mode = g_strdup(default_mode);
        xmlNode *port;
        guint n_parts = g_strv_length(parts);

        if (!head[0] || !*head[0] || (head[1] && !*head[1])) {
                render_fail(error, "--port '%s': expected NAME=DEV[,key=value...]", opt);
                return NULL;
        }
        for (guint i = 1; i < n_parts; i++) {
                const char *kv = parts[i];
                if (!strchr(kv, '=') || kv[0] == '=') {
                        render_fail(error, "--port '%s': '%s' is not key=value: expected NAME=DEV[,key=value...]", opt, kv);
                        return NULL;
                }
                if (strncmp(kv, "mode=", 5) == 0) {
                        g_free(mode);
                        mode = g_strdup(kv + 5);
                }
        }
        port = xmlNewNode(ns, BAD_CAST "port");
        xmlSetProp(port, BAD_CAST "name", BAD_CAST head[0]);
        xmlSetProp(port, BAD_CAST "mode", BAD_CAST mode);
        if (head[1])
                xmlSetProp(port, BAD_CAST(g_strcmp0(mode, "vf") == 0 ? "pf" : "dev"), BAD_CAST head[1]);
        for (guint i = 1; i < n_parts; i++) {
                g_auto(GStrv) kv = g_strsplit(parts[i], "=", 2);
                if (g_strcmp0(kv[0], "mode") != 0)
                        xmlSetProp(port, BAD_CAST kv[0], BAD_CAST kv[1]);
        }
        return port;
}

static bool set_ports(xmlNode *router, char **ports, GError **error) {
        g_autofree char *default_mode = NULL;
        xmlNode *anchor = NULL;

        for (xmlNode *n = vr_xml_first(router), *next; n; n = next) {
                next = vr_xml_next(n);
                if (!vr_xml_is(n, VR_NS, "port")) {
                        continue;
                }
                if (!default_mode)
                        default_mode = vr_xml_prop(n, "mode");
                vr_xml_remove(n);
        }
        for (xmlNode *n = vr_xml_first(router); n; n = vr_xml_next(n))
                if (!vr_xml_is(n, VR_NS, "strip") && !vr_xml_is(n, VR_NS, "guarantee"))
                        anchor = n;
        for (char **p = ports; *p; p++) {
                xmlNode *port = port_from_option(*p, default_mode ? default_mode : "macvtap",
                                                 router->ns, error);
                if (!port)
                        return false;
                if (!anchor && vr_xml_first(router)) {
                        /* Ports first: before strip/guarantee, as users read them. */
                        xmlNode *first = vr_xml_first(router);
                        xmlNode *ws = first->prev && first->prev->type == XML_TEXT_NODE
                                              ? xmlCopyNode(first->prev, 1) : NULL;
                        xmlSetTreeDoc(port, router->doc);
                        xmlAddPrevSibling(first, port);
                        if (ws)
                                xmlAddPrevSibling(first, ws);
                } else {
                        vr_xml_insert(router, anchor, port);
                }
                anchor = port;
        }
        return true;
}

static void set_cpu(xmlNode *router, const VrRenderOptions *o) {
        xmlNode *cpu;

        if (!o->cpus && !o->housekeeping && !o->placement)
                return;
        cpu = vr_xml_child(router, VR_NS, "cpu");
        if (!cpu) {
                cpu = xmlNewNode(router->ns, BAD_CAST "cpu");
                vr_xml_insert(router, NULL, cpu);
        }
        if (o->placement)
                vr_xml_set_prop(cpu, "placement", o->placement);
        if (o->cpus)
                vr_xml_set_prop(cpu, "cpus", o->cpus);
        if (o->housekeeping)
                vr_xml_set_prop(cpu, "housekeeping", o->housekeeping);
}

char *vr_render(const VrRenderOptions *o, const VrRewriteOptions *apply, GError **error) {
        g_autofree char *path = NULL, *raw = NULL, *text = NULL;
        g_autofree char *root_type = NULL;
        g_autoptr(GError) local = NULL;
        g_autoptr(xmlDoc) doc = NULL;
        xmlNode *root, *os, *router;
        gsize len = 0;
        bool lxc;
        int r;

        if (!o->template_name || !g_strv_contains(vr_template_names, o->template_name)) {
                g_autofree char *names = g_strjoinv(", ", (char **) vr_template_names);
                render_fail(error, "template '%s': expected one of: %s",
                            o->template_name ? o->template_name : "", names);
                return NULL;
        }
        path = g_strdup_printf("%s/%s.xml", vr_template_dir(o->template_dir), o->template_name);
        if (!g_file_get_contents(path, &raw, &len, &local)) {
                g_set_error(error, VR_ERROR, VR_ERROR_HOST, "template %s: %s (set --template-dir or VIRT_ROUTER_TEMPLATE_DIR)",
                            path, local->message);
                return NULL;
        }
        {
                const char *image_dir = o->image_dir ? o->image_dir : apply->conf->image_dir;
                const char *pairs[] = {"@IMAGE_DIR@", image_dir, "@QEMU@", QEMU_SYSTEM,
                                       "@LIBVIRT_LXC@", LIBVIRT_LXC, "@LXC_INIT@",
                                       o->init ? o->init : "/bin/sleep", NULL};
                text = substitute(raw, pairs);
        }
        doc = vr_xml_parse(text, strlen(text), path, error);
        if (!doc)
                return NULL;
        /* The template's own comments describe the template, not the router. */
        for (xmlNode *n = doc->children, *next; n; n = next) {
                next = n->next;
                if (n->type == XML_COMMENT_NODE) {
                        xmlUnlinkNode(n);
                        xmlFreeNode(n);
                }
        }
        root = xmlDocGetRootElement(doc);
        root_type = vr_xml_prop(root, "type");
        lxc = g_strcmp0(root_type, "lxc") == 0;
        if (o->type) {
                if (lxc && !g_str_equal(o->type, "lxc")) {
                        render_fail(error, "--type %s: template %s is an LXC container: expected no --type (or lxc)", o->type, o->template_name);
                        return NULL;
                }
                if (!lxc && !g_str_equal(o->type, "kvm") && !g_str_equal(o->type, "qemu")) {
                        render_fail(error, "--type %s: expected kvm (hardware virtualisation) or qemu (emulation)", o->type);
                        return NULL;
                }
                vr_xml_set_prop(root, "type", o->type);
                if (g_str_equal(o->type, "qemu")) {
                        /* TCG has no host CPU to pass through. */
                        xmlNode *cpu = vr_xml_child(root, NULL, "cpu");
                        if (cpu)
                                vr_xml_remove(cpu);
                }
        }
        set_child_text(root, "name", o->name ? o->name : "router");
        if (!set_uuid(root, o->name ? o->name : "router", o->uuid, error))
                return NULL;
        if (o->vcpus) {
                g_autofree char *s = g_strdup_printf("%d", o->vcpus);
                set_child_text(root, "vcpu", s);
        }
        if (o->memory_mib) {
                g_autofree char *s = g_strdup_printf("%d", o->memory_mib);
                xmlNode *mem = vr_xml_child(root, NULL, "memory");
                vr_xml_set_text(mem, s);
                vr_xml_set_prop(mem, "unit", "MiB");
        }
        os = vr_xml_child(root, NULL, "os");
        if (o->no_image) {
                static const char *const boot[] = {"kernel", "initrd", "cmdline", NULL};
                for (const char *const *b = boot; *b; b++) {
                        xmlNode *n = vr_xml_child(os, NULL, *b);
                        if (n)
                                vr_xml_remove(n);
                }
        }
        if (o->init && lxc) {
                for (xmlNode *n = vr_xml_first(os), *next; n; n = next) {
                        next = vr_xml_next(n);
                        if (vr_xml_is(n, NULL, "initarg"))
                                vr_xml_remove(n);
                }
        }
        if (o->policy_file && !replace_policy(doc, o->policy_file, error))
                return NULL;
        router = router_of(doc);
        if (o->ports && !set_ports(router, o->ports, error))
                return NULL;
        set_cpu(router, o);
        if (o->profile)
                vr_xml_set_prop(router, "profile", o->profile);
        r = vr_rewrite_parsed(doc, apply, NULL, error);
        if (r < 0)
                return NULL;
        {
                g_auto(VrXmlStyle) style = {0};
                vr_xml_style_detect(text, strlen(text), &style);
                g_clear_pointer(&style.decl, g_free); /* templates carry none; domains need none */
                return vr_xml_serialize(doc, &style, NULL);
        }
}

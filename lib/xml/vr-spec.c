#include "config.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#include "vr-error.h"
#include "vr-json.h"
#include "vr-policy-xml.h"
#include "vr-proc.h"
#include "vr-spec.h"
#include "vr-sysfs.h"
#include "vr-tune-spec.h"
#include "vr-xml.h"

/* The <domain> of a domain XML, or of libvirt's status XML (<domstatus pid=...>). */
static xmlDoc *load_domain(const char *root, const char *domain, const char *file, pid_t *ret_pid, GError **error) {
        g_autofree char *path = NULL, *buf = NULL;
        g_autoptr(GError) local = NULL;
        g_autoptr(xmlDoc) doc = NULL;
        xmlNode *top;
        gsize len = 0;

        if (file) {
                path = g_strdup(file);
        } else {
                static const char *const drivers[] = {"qemu", "lxc", NULL};
                const char *why = vr_name_problem(domain, NAME_MAX - strlen(".xml"));
                if (why) { /* it would name a file elsewhere */
                        g_set_error(error, VR_ERROR, VR_ERROR_INVALID,
                                    "domain name '%s' %s: expected a libvirt domain name (no '/', not '.' or '..', at most %d bytes)",
                                    domain, why, NAME_MAX - 4);
                        return NULL;
                }
                for (const char *const *d = drivers; *d && !path; d++) {
                        g_autofree char *p = vr_root_path(root, "run/libvirt/%s/%s.xml", *d, domain);
                        if (g_file_test(p, G_FILE_TEST_EXISTS))
                                path = g_steal_pointer(&p);
                }
                if (!path) {
                        g_set_error(error, VR_ERROR, VR_ERROR_HOST,
                                    "domain '%s': no status XML under %s/run/libvirt/qemu or lxc: expected a running domain (or --xml FILE)",
                                    domain, g_str_equal(root, "/") ? "" : root);
                        return NULL;
                }
        }
        if (!g_file_get_contents(path, &buf, &len, &local)) {
                g_set_error(error, VR_ERROR, VR_ERROR_HOST, "domain '%s': %s", domain, local->message);
                return NULL;
        }
        doc = vr_xml_parse(buf, len, path, error);
        if (!doc)
                return NULL;
        top = xmlDocGetRootElement(doc);
        if (vr_xml_is(top, NULL, "domstatus")) {
                g_autofree char *pid = vr_xml_prop(top, "pid");
                xmlNode *dom = vr_xml_child(top, NULL, "domain");
                xmlDoc *d2;
                if (!dom) {
                        g_set_error(error, VR_ERROR, VR_ERROR_INVALID, "%s: <domstatus> without <domain>", path);
                        return NULL;
                }
                if (pid && ret_pid && !*ret_pid)
                        *ret_pid = (pid_t) g_ascii_strtoll(pid, NULL, 10);
                d2 = xmlNewDoc(BAD_CAST "1.0");
                xmlDocSetRootElement(d2, xmlDocCopyNode(dom, d2, 1));
                return d2;
        }
        return g_steal_pointer(&doc);
}

/* Host netdevs handed to a container (VF ports): their NAPI threads are the router's. */
char **vr_domain_napi_devices(xmlDoc *doc) {
        g_autoptr(GPtrArray) devs = g_ptr_array_new_with_free_func(g_free);
        xmlNode *devices = vr_xml_child(xmlDocGetRootElement(doc), NULL, "devices");

        for (xmlNode *d = vr_xml_first(devices); d; d = vr_xml_next(d)) {
                g_autofree char *alias = vr_xml_prop(vr_xml_child(d, NULL, "alias"), "name");
                xmlNode *src = vr_xml_child(d, NULL, "source");
                if (!vr_xml_is(d, NULL, "hostdev") || !alias || !g_str_has_prefix(alias, VR_ALIAS_PREFIX))
                        continue;
                if (vr_xml_child(src, NULL, "interface"))
                        g_ptr_array_add(devs, vr_xml_text(vr_xml_child(src, NULL, "interface")));
        }
        g_ptr_array_add(devs, NULL);
        return (char **) g_ptr_array_free(g_steal_pointer(&devs), FALSE);
}

char *vr_tune_spec_from_doc(const char *root, xmlDoc *doc, const char *what, pid_t pid,
                            const VrHostConf *conf, GError **error) {
        g_autoptr(VrPolicy) policy = NULL;
        int r = vr_policy_parse(doc, what, conf, &policy, error);

        if (r < 0)
                return NULL;
        if (r == 0) {
                VrDomain d = {0};
                bool named = vr_domain_read(doc, what, &d, NULL);
                g_set_error(error, VR_ERROR, VR_ERROR_INVALID,
                            "domain '%s' is not a router: no <vr:router> metadata and no host config rule",
                            named ? d.name : what);
                vr_domain_clear(&d);
                return NULL;
        }
        return vr_tune_spec_from_policy(root, doc, policy, pid);
}

char *vr_tune_spec_from_policy(const char *root, xmlDoc *doc, const VrPolicy *policy, pid_t pid) {
        g_auto(GStrv) napi = NULL;

        if (!pid)
                pid = vr_libvirt_pid(root, NULL, policy->dom.name);
        /* libvirt's LXC pid file names the libvirt_lxc controller; the container's init
         * is its child. */
        if (pid > 0 && policy->dom.type == VR_DOMAIN_LXC) {
                pid_t init = vr_proc_child_of(root, pid);
                if (init > 0)
                        pid = init;
        }
        napi = vr_domain_napi_devices(doc);
        {
                /* Borrowed fields: the spec is only written. */
                const VrTuneSpec spec = {.pid = pid, .napi_devs = napi, .policy = (VrPolicy *) policy};
                return vr_tune_spec_to_json(&spec);
        }
}

char *vr_tune_spec_from_file(const char *root, const char *domain, const char *file, pid_t pid,
                             const VrHostConf *conf, GError **error) {
        g_autoptr(xmlDoc) doc = NULL;
        pid_t status_pid = 0;

        doc = load_domain(root ? root : "/", domain, file, &status_pid, error);
        if (!doc)
                return NULL;
        if (domain) {
                VrDomain d = {0};
                if (vr_domain_read(doc, file ? file : domain, &d, NULL) && !g_str_equal(d.name, domain)) {
                        g_set_error(error, VR_ERROR, VR_ERROR_INVALID, "domain '%s': the XML describes domain '%s'",
                                    domain, d.name);
                        vr_domain_clear(&d);
                        return NULL;
                }
                vr_domain_clear(&d);
        }
        /* libvirt's own pid: QEMU, or a container's controller (made the init below). */
        if (!pid)
                pid = status_pid;
        return vr_tune_spec_from_doc(root ? root : "/", doc, file ? file : domain, pid, conf, error);
}

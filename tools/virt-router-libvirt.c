/* `virt-router apply --domain`: the persistent definition through the libvirt API, and
 * the diff of what applying the policy changes in it. */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "vr-error.h"
#include "vr-macros.h"
#include "virt-router-libvirt.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC(virConnect, virConnectClose)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(virDomain, virDomainFree)

struct VrLibvirtDomain {
        virConnect *conn;
        virDomain *dom;
        char *name;
};

/* libvirt prints every error to stderr by default; the caller prints each once, with the
 * domain's name. */
static void quiet(void *opaque _unused_, virErrorPtr err _unused_) {
}

static bool libvirt_fail(GError **error, const char *name, const char *doing) {
        g_set_error(error, VR_ERROR, VR_ERROR_HOST, "domain '%s': %s%s", name, doing ? doing : "",
                    virGetLastErrorMessage());
        return false;
}

/* The default URI (qemu:///system) when neither the option nor LIBVIRT_DEFAULT_URI
 * gives one, else NULL. */
static const char *default_uri(const char *option) {
        const char *env = g_getenv("LIBVIRT_DEFAULT_URI");

        return option || (env && *env) ? NULL : "qemu:///system";
}

const char *vr_libvirt_uri(const char *option) {
        const char *def = default_uri(option);

        return def ? def : option ? option : g_getenv("LIBVIRT_DEFAULT_URI");
}

VrLibvirtDomain *vr_libvirt_domain_open(const char *uri_option, const char *name, GError **error) {
        g_autoptr(virConnect) conn = NULL;
        g_autoptr(virDomain) dom = NULL;
        const char *uri = vr_libvirt_uri(uri_option);
        g_autofree char *doing = g_strdup_printf("cannot connect to %s: ", uri);
        VrLibvirtDomain *d;
        int persistent;

        virSetErrorFunc(NULL, quiet);
        /* As virsh: the default callback asks for credentials a remote URI may need. */
        conn = virConnectOpenAuth(uri, virConnectAuthPtrDefault, 0);
        if (!conn) {
                libvirt_fail(error, name, doing);
                return NULL;
        }
        virConnSetErrorFunc(conn, NULL, quiet);
        dom = virDomainLookupByName(conn, name);
        if (!dom) {
                /* A user who chose no URI may have meant a container: the default is QEMU's. */
                bool hint = default_uri(uri_option) && virGetLastErrorCode() == VIR_ERR_NO_DOMAIN;

                g_set_error(error, VR_ERROR, VR_ERROR_HOST, "domain '%s': %s%s", name, virGetLastErrorMessage(),
                            hint ? " (a container? use -c lxc:///system)" : "");
                return NULL;
        }
        persistent = virDomainIsPersistent(dom);
        if (persistent < 0) {
                libvirt_fail(error, name, NULL);
                return NULL;
        }
        if (!persistent) {
                g_set_error(error, VR_ERROR, VR_ERROR_HOST,
                            "domain '%s' is transient: it has no persistent definition to rewrite (virsh dumpxml %s | virt-router apply - shows what its XML would need)",
                            name, name);
                return NULL;
        }
        d = g_new0(VrLibvirtDomain, 1);
        d->conn = g_steal_pointer(&conn);
        d->dom = g_steal_pointer(&dom);
        d->name = g_strdup(name);
        return d;
}

void vr_libvirt_domain_free(VrLibvirtDomain *d) {
        if (!d)
                return;
        g_clear_pointer(&d->dom, virDomainFree);
        g_clear_pointer(&d->conn, virConnectClose);
        g_free(d->name);
        g_free(d);
}

char *vr_libvirt_domain_xml(VrLibvirtDomain *d, bool secure, GError **error) {
        char *xml = virDomainGetXMLDesc(d->dom, VIR_DOMAIN_XML_INACTIVE | (secure ? VIR_DOMAIN_XML_SECURE : 0));
        char *copy;

        if (!xml) {
                libvirt_fail(error, d->name, "reading its definition: ");
                return NULL;
        }
        copy = g_strdup(xml); /* libvirt's memory goes back through free() */
        free(xml);
        return copy;
}

bool vr_libvirt_domain_define(VrLibvirtDomain *d, const char *xml, GError **error) {
        g_autoptr(virDomain) dom = virDomainDefineXMLFlags(d->conn, xml, VIR_DOMAIN_DEFINE_VALIDATE);

        if (!dom)
                return libvirt_fail(error, d->name, "redefining it: ");
        return true;
}

bool vr_libvirt_domain_is_active(VrLibvirtDomain *d) {
        return virDomainIsActive(d->dom) == 1;
}

/* GLib has no diff, and writing one is outside what this project is for: diff(1) from
 * diffutils is Essential in Debian (and on every other distribution's base system), and
 * its unified format is what users read and patch(1) takes. */
static bool run_diff(const char *name, const char *a, const char *b, GError **error) {
        g_autofree char *label_a = g_strdup_printf("a/%s.xml", name);
        g_autofree char *label_b = g_strdup_printf("b/%s.xml", name);
        const char *argv[] = {"diff", "-u", "--label", label_a, "--label", label_b, a, b, NULL};
        g_autoptr(GError) local = NULL;
        int status = 0;

        fflush(stdout); /* the diff comes after anything already printed */
        if (!g_spawn_sync(NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, &status, &local)) {
                g_set_error(error, VR_ERROR, VR_ERROR_HOST, "domain '%s': cannot run diff (diffutils): %s", name,
                            local->message);
                return false;
        }
        /* diff exits 1 when the files differ, 2 on trouble (it said why on stderr). */
        if (!g_spawn_check_wait_status(status, &local) &&
            !(local->domain == G_SPAWN_EXIT_ERROR && local->code == 1)) {
                g_set_error(error, VR_ERROR, VR_ERROR_HOST, "domain '%s': diff of its definition failed: %s", name,
                            local->message);
                return false;
        }
        return true;
}

bool vr_diff_print(const char *name, const char *old_xml, const char *new_xml, GError **error) {
        g_autofree char *dir = NULL, *a = NULL, *b = NULL;
        g_autoptr(GError) local = NULL;
        bool ok;

        dir = g_dir_make_tmp("virt-router-XXXXXX", &local);
        if (!dir) {
                g_set_error(error, VR_ERROR, VR_ERROR_HOST, "domain '%s': %s", name, local->message);
                return false;
        }
        a = g_build_filename(dir, "old.xml", NULL);
        b = g_build_filename(dir, "new.xml", NULL);
        ok = g_file_set_contents(a, old_xml, -1, &local) && g_file_set_contents(b, new_xml, -1, &local);
        if (!ok)
                g_set_error(error, VR_ERROR, VR_ERROR_HOST, "domain '%s': %s", name, local->message);
        else
                ok = run_diff(name, a, b, error);
        unlink(a);
        unlink(b);
        rmdir(dir);
        return ok;
}

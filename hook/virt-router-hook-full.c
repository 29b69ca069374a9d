/* virt-router-hook-full: the work of the libvirt hook for the qemu and lxc drivers,
 * run by the front (virt-router-hook) only when the domain may be a router. Called
 * as libvirt calls hooks: NAME OP SUBOP EXTRA with the domain XML on stdin. */
#include "config.h"

#include <errno.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <libxml/parser.h>

#include "vr-error.h"
#include "vr-hook.h"
#include "vr-hostconf.h"
#include "vr-log.h"
#include "vr-policy-xml.h"
#include "vr-xml.h"

static char *read_stdin(size_t *ret_len) {
        GString *s = g_string_sized_new(16384);
        char buf[65536];
        ssize_t n;

        /* Always read it all: libvirt writes the whole XML and must not see EPIPE. */
        while ((n = read(STDIN_FILENO, buf, sizeof(buf))) != 0) {
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                if (s->len < VR_XML_MAX_SIZE + 1)
                        g_string_append_len(s, buf, n);
        }
        *ret_len = s->len;
        return g_string_free(s, FALSE);
}

/* Each error reaches the operator once per channel that shows it. Where the operation
 * can fail, libvirt puts a failing hook's stderr in the error it reports (virsh shows
 * it, and libvirtd's log keeps it): stderr only, since syslog would be a second copy in
 * the journal. Where it cannot (exit 0), libvirt drops stderr: syslog only. Either way
 * the line starts with the program's name, as the log's do (ident virt-router-hook)
 * and as every other program's do: which program refused is the first thing read. */
static void report_error(const char *op, const char *message) {
        g_auto(GStrv) lines = g_strsplit(message, "\n", -1);
        bool can_fail = vr_hook_op_can_fail(op);

        for (char **l = lines; *l; l++) {
                if (can_fail)
                        fprintf(stderr, "virt-router-hook: %s\n", *l);
                else
                        vr_log(LOG_ERR, "%s", *l);
        }
}

/* "domain 'NAME': " before each line of a host config's error (every bad profile value
 * is a line of its own), so that each line virsh shows or the journal keeps names it. */
static char *each_line_of_domain(const char *domain, const char *message) {
        g_auto(GStrv) lines = g_strsplit(message, "\n", -1);
        GString *s = g_string_new(NULL);

        for (char **l = lines; *l; l++)
                g_string_append_printf(s, "%sdomain '%s': %s", l == lines ? "" : "\n", domain, *l);
        return g_string_free(s, FALSE);
}

int main(int argc, char **argv) {
        g_autoptr(VrHostConf) conf = NULL;
        g_autoptr(GError) err = NULL;
        g_autofree char *xml = NULL, *out = NULL;
        const char *config = g_getenv("VIRT_ROUTER_CONFIG");
        const char *root = g_getenv("VIRT_ROUTER_ROOT");
        const char *tune = g_getenv("VIRT_ROUTER_TUNE");
        const char *tc = g_getenv("VIRT_ROUTER_TC");
        size_t len = 0;
        VrHookRequest req;
        bool log_stderr;
        int r;

        setlocale(LC_ALL, "C");
        if (argc == 2 && (g_str_equal(argv[1], "--help") || g_str_equal(argv[1], "-h"))) {
                printf("Usage: %s DOMAIN OPERATION SUB-OPERATION EXTRA < domain.xml\n\n"
                       "The virt-router hook for libvirt's qemu and lxc drivers: validates and reserves a\n"
                       "router's CPUs, VFs and deadline bandwidth (prepare), sets its host devices up\n"
                       "(start), starts its thread tuner (started, reconnect), undoes all of it (stopped,\n"
                       "release) and rewrites host-specific XML (migrate, restore). Domains without a\n"
                       "router policy are left alone. See virt-router-hook(8).\n\n"
                       "Environment: VIRT_ROUTER_CONFIG (host config), VIRT_ROUTER_ROOT (root prefix),\n"
                       "VIRT_ROUTER_TUNE (tuner binary), VIRT_ROUTER_TC (tc, for the host policer),\n"
                       "VIRT_ROUTER_LOG=stderr.\n", argv[0]);
                return 0;
        }
        if (argc < 4) {
                fprintf(stderr, "virt-router-hook: expected DOMAIN OPERATION SUB-OPERATION [EXTRA] (as libvirt calls hooks)\n");
                return 2;
        }
        xml = read_stdin(&len);
        log_stderr = g_strcmp0(g_getenv("VIRT_ROUTER_LOG"), "stderr") == 0;
        vr_log_open("virt-router-hook", log_stderr, false);
        conf = vr_host_conf_load(config, &err);
        if (!conf) {
                g_autofree char *msg = NULL;
                /* A broken host config must not stop domains that are no routers, but a
                 * domain one of its rules binds is a router whose policy cannot be
                 * known: it fails like one with a bad policy. Where the file is no key
                 * file at all, Nova's instances are taken as bound (rules exist for them).
                 * Text with a NUL byte is no domain XML: refused below, like any. */
                if (!memmem(xml, len, VR_NS_PREFIX, strlen(VR_NS_PREFIX)) && !memchr(xml, '\0', len)) {
                        g_autoptr(xmlDoc) doc = vr_xml_parse(xml, len, argv[1], NULL);
                        g_autofree char *flavor = vr_domain_nova_flavor(doc);
                        int bound = vr_host_conf_could_bind(config, argv[1], flavor);
                        if (bound == 0 || (bound < 0 && !flavor)) {
                                /* Not the domain's business, but the operator's: said once per
                                 * domain started while the config is broken. */
                                g_auto(GStrv) lines = g_strsplit(err->message, "\n", -1);
                                for (char **l = lines; *l; l++)
                                        vr_log(LOG_ERR, "%s (domain '%s' is bound by no rule of it: started as it is)",
                                               *l, argv[1]);
                                return 0;
                        }
                }
                msg = each_line_of_domain(argv[1], err->message);
                report_error(argv[2], msg);
                return vr_hook_op_can_fail(argv[2]) ? 1 : 0;
        }
        vr_log_open("virt-router-hook", log_stderr, conf->debug);
        root = root && *root ? root : "/";
        req = (VrHookRequest){
                .root = root,
                .conf = conf,
                .state_dir = g_getenv("VIRT_ROUTER_STATE_DIR"),
                .tune_path = tune && *tune ? tune : PKGLIBEXECDIR "/virt-router-tune",
                /* A root prefix is a fake host: no real tc runs on it unless a test gives one. */
                .tc_path = tc && *tc ? tc : g_str_equal(root, "/") ? TC_PATH : NULL,
                .domain = argv[1], .op = argv[2], .subop = argv[3],
                .xml = xml, .xml_len = len,
                .lock_wait_ms = 2000,
                .no_tuner = g_strcmp0(g_getenv("VIRT_ROUTER_NO_TUNER"), "1") == 0,
        };
        r = vr_hook_run(&req, &out, &err);
        xmlCleanupParser();
        if (r < 0) {
                report_error(argv[2], err->message);
                return vr_hook_op_can_fail(argv[2]) ? 1 : 0;
        }
        if (out && fputs(out, stdout) < 0)
                return 1;
        return 0;
}

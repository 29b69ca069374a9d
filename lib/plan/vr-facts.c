#include "config.h"

/* The one part of the plan layer that reads the host, and only reads: the facts a VF
 * port's plan needs, through the root prefix, before the pure vr_plan_build(). Kept
 * apart from vr-plan.c so that file stays pure; here rather than in lib/host because
 * the XML layer's rewrite (lib/xml, which may not call lib/host) reads them. */

#include "vr-plan.h"
#include "vr-sysfs.h"

VrHostFacts *vr_host_facts_read(const char *root, const VrPolicy *p) {
        VrHostFacts *f = g_new0(VrHostFacts, 1);

        f->root = g_strdup(root);
        f->pf_vfs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                          (GDestroyNotify) g_ptr_array_unref);
        f->netdevs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        for (guint i = 0; root && i < p->ports->len; i++) {
                const VrPort *port = p->ports->pdata[i];
                GPtrArray *vfs = NULL;
                if (port->mode != VR_PORT_VF)
                        continue;
                if (port->pf && !g_hash_table_contains(f->pf_vfs, port->pf) &&
                    vr_pf_vfs(root, port->pf, &vfs) == 0)
                        g_hash_table_insert(f->pf_vfs, g_strdup(port->pf), vfs);
                if (p->dom.type != VR_DOMAIN_LXC)
                        continue;
                /* A container gets the VF's netdev, so learn the names. */
                vfs = port->pf ? g_hash_table_lookup(f->pf_vfs, port->pf) : NULL;
                for (guint k = 0; vfs && k < vfs->len; k++) {
                        char *nd = NULL;
                        if (vr_pci_netdev(root, vfs->pdata[k], &nd) == 0)
                                g_hash_table_replace(f->netdevs, g_strdup(vfs->pdata[k]), nd);
                }
                if (port->vf) {
                        char *nd = NULL;
                        if (vr_pci_netdev(root, port->vf, &nd) == 0)
                                g_hash_table_replace(f->netdevs, g_strdup(port->vf), nd);
                }
        }
        return f;
}

#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vr-pci.h"
#include "vr-xml.h"

/* One field as virStrToLong_uip() takes it: an unsigned C integer of any base, the whole
 * value, no sign. */
static bool pci_field(const xmlNode *addr, const char *name, guint64 max, guint64 *ret) {
        g_autofree char *v = vr_xml_prop(addr, name);
        char *end = NULL;
        guint64 n;

        if (!v) {
                *ret = 0;
                return true;
        }
        if (strchr(v, '-'))
                return false;
        errno = 0;
        n = g_ascii_strtoull(v, &end, 0);
        if (errno || end == v || *end || n > max)
                return false;
        *ret = n;
        return true;
}

char *vr_xml_pci_address(const xmlNode *addr) {
        g_autofree char *type = NULL;
        guint64 dom, bus, slot, fn;

        if (!addr)
                return NULL;
        type = vr_xml_prop(addr, "type");
        if (type && !g_str_equal(type, "pci"))
                return NULL;
        if (!pci_field(addr, "domain", 0xffff, &dom) || !pci_field(addr, "bus", 0xff, &bus) ||
            !pci_field(addr, "slot", 0x1f, &slot) || !pci_field(addr, "function", 7, &fn))
                return NULL;
        if (!dom && !bus && !slot)
                return NULL;
        return g_strdup_printf("%04x:%02x:%02x.%x", (unsigned) dom, (unsigned) bus, (unsigned) slot, (unsigned) fn);
}

char *vr_xml_source_pci(const xmlNode *dev) {
        return vr_xml_pci_address(vr_xml_child(vr_xml_child(dev, NULL, "source"), NULL, "address"));
}

bool vr_xml_set_pci_address(xmlNode *addr, const char *pci) {
        unsigned dom, bus, slot, fn;
        g_autofree char *d = NULL, *b = NULL, *s = NULL, *f = NULL;
        bool changed = false;

        if (sscanf(pci, "%x:%x:%x.%x", &dom, &bus, &slot, &fn) != 4)
                return false;
        d = g_strdup_printf("0x%04x", dom);
        b = g_strdup_printf("0x%02x", bus);
        s = g_strdup_printf("0x%02x", slot);
        f = g_strdup_printf("0x%x", fn);
        changed |= vr_xml_set_prop(addr, "domain", d);
        changed |= vr_xml_set_prop(addr, "bus", b);
        changed |= vr_xml_set_prop(addr, "slot", s);
        changed |= vr_xml_set_prop(addr, "function", f);
        return changed;
}

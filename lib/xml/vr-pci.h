/* PCI addresses in domain XML, read as libvirt reads them. */
#pragma once

#include <stdbool.h>
#include <libxml/tree.h>

/* "DDDD:BB:DD.F" (lower case, as sysfs names devices) from an <address> element, read as
 * libvirt's virPCIDeviceAddressParseXML() reads it: each of domain=, bus=, slot= and
 * function= is optional and 0 when absent (libvirt writes domain='0x0000' back, users and
 * Nova often leave it out), and each is a C integer (0x hex, leading-0 octal, decimal).
 * NULL for no element, a type= other than 'pci', an empty address (libvirt's "let me
 * choose"), or one libvirt refuses (a value that does not parse or is out of range). */
char *vr_xml_pci_address(const xmlNode *addr);

/* Write PCI ("DDDD:BB:DD.F") into addr's domain=, bus=, slot= and function= as libvirt
 * writes them ('0x0000', '0x03', '0x10', '0x0'); true if the element changed. False, and
 * nothing written, when PCI is no such address. */
bool vr_xml_set_pci_address(xmlNode *addr, const char *pci);

/* The same for a device's <source><address> (a <hostdev> or <interface type='hostdev'>). */
char *vr_xml_source_pci(const xmlNode *dev);

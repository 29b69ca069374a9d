/* vr-init's kernel modules: the list of what it may load and when (the image build
 * asks for it with vr-init --modules, so it is written down once), and loading them. */
#pragma once

enum when { AT_BOOT, FOR_PCI, FOR_TC };

/* Reads the image's modules.dep for the running kernel. */
void modules_init(void);
/* Loads the modules wanted at that time, each after its dependencies. */
void load_modules(enum when when);
/* VF drivers only for devices they claim: a VF-less router loads none of them. */
void load_pci_drivers(void);
/* Prints the list as "WHEN NAME" lines; returns 0 (vr-init --modules). */
int modules_list(void);

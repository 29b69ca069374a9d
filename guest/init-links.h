/* vr-init's ports and forwarding: NICs found by MAC, named after the ports and brought
 * up; forwarding tuned; the addresses and routes ip is to add. */
#pragma once

#include <stddef.h>

#include "init-config.h"

/* Finds, renames, sizes and brings up each port's NIC; sets port->up for those that
 * came up (every other step skips the rest). */
void setup_ports(struct config *cfg);
/* RPS (off unless cfg->rps) and interrupts spread over the CPUs, for the ports up. */
void tune_forwarding(const struct config *cfg);
/* Writes a /proc/sys value; a failure is a VR-ERROR. */
void set_sysctl(const char *path, const char *value);
/* The `ip -batch` text: addresses and routes of the ports up. Returns its length. */
size_t ip_batch(const struct config *cfg, char *buf, size_t size);

/* vr-init's answers to the host: VR-COUNTERS, and the channels it asks on. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "init-config.h"

enum { MAX_CHANNELS = 8 };

struct channel {
        int fd;
        bool idle; /* a virtio port whose host side is not connected: HUP until it is */
        char dev[64];
        char buf[256];
        size_t len;
};

/* The open channels; the run-time loop polls them. */
extern struct channel channels[MAX_CHANNELS];
extern size_t n_channels;

/* One VR-COUNTERS line per port up on the console, and to reply_fd too (-1: none). */
void print_counters(const struct config *cfg, int reply_fd);
/* Adds an open descriptor (the console) as a channel named dev. */
void channel_add(int fd, const char *dev);
/* Opens /dev/hvc0 and the virtio-serial port org.virt-router.0 once they exist. */
void scan_channels(void);
/* Reads what is there and answers each full line; false when the channel is gone. */
bool channel_read(const struct config *cfg, struct channel *c, int reply_fd);

/* Driver for the launch test: starts a domain's tuner as the hook does. Run it inside
 * $(...): the shell waits for EOF on stdout, so a daemon that kept any inherited
 * descriptor open would hang the test, as it would hang libvirt. */
#include "config.h"

#include <stdio.h>

#include "vr-launch.h"

int main(int argc, char **argv) {
        g_autoptr(GError) err = NULL;
        VrLaunchOptions o;

        if (argc != 5) {
                fprintf(stderr, "usage: test-launch TUNE DOMAIN SPEC STATE_DIR\n");
                return 2;
        }
        o = (VrLaunchOptions){.tune_path = argv[1], .domain = argv[2], .spec = argv[3], .state_dir = argv[4]};
        if (vr_tuner_launch(&o, &err) < 0) {
                printf("error: %s\n", err->message);
                return 1;
        }
        printf("launched\n");
        return 0;
}

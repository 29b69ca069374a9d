#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "vr-error.h"
#include "vr-netdev.h"
#include "vr-sysfs.h"
#include "vr-units.h"

int vr_netdev_get_txqlen(const char *root, const char *dev, int *ret) {
        g_autofree char *rel = g_strdup_printf("sys/class/net/%s/tx_queue_len", dev);
        g_autofree char *s = NULL;
        int64_t v;
        int r = vr_read_line(root, rel, &s);

        if (r < 0)
                return r;
        if (vr_parse_int(s, 0, G_MAXINT, &v) < 0)
                return -EINVAL;
        *ret = (int) v;
        return 0;
}

/* In a forked child, enter PID's network namespace and set DEV's queue length; the
 * child reports the result through a pipe (its exit status is too small for errno). */
int vr_netns_set_txqlen(pid_t pid, const char *dev, int qlen) {
        int fds[2], status = 0, result = -EIO;
        pid_t child;

        if (strlen(dev) >= IFNAMSIZ || strchr(dev, '/'))
                return -EINVAL;
        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        child = fork();
        if (child < 0) {
                int r = -errno;
                close(fds[0]);
                close(fds[1]);
                return r;
        }
        if (child == 0) {
                g_autofree char *ns = g_strdup_printf("/proc/%d/ns/net", (int) pid);
                struct ifreq ifr = {0};
                int out = -EIO, nsfd = open(ns, O_RDONLY | O_CLOEXEC), sock;

                close(fds[0]);
                if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) < 0) {
                        out = -errno;
                } else if ((sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0) {
                        out = -errno;
                } else {
                        g_strlcpy(ifr.ifr_name, dev, IFNAMSIZ);
                        ifr.ifr_qlen = qlen;
                        out = ioctl(sock, SIOCSIFTXQLEN, &ifr) < 0 ? -errno : 0;
                }
                if (write(fds[1], &out, sizeof(out)) != sizeof(out))
                        _exit(1);
                _exit(0);
        }
        close(fds[1]);
        if (read(fds[0], &result, sizeof(result)) != sizeof(result))
                result = -EIO;
        close(fds[0]);
        (void) waitpid(child, &status, 0);
        return result;
}

int vr_vf_index(const char *root, const char *pf, const char *vf_addr, int *ret) {
        for (int i = 0; i < 4096; i++) {
                g_autofree char *link = vr_root_path(root, "sys/class/net/%s/device/virtfn%d", pf, i);
                g_autofree char *target = g_file_read_link(link, NULL);
                g_autofree char *base = NULL;
                if (!target)
                        return -ENOENT;
                base = g_path_get_basename(target);
                if (g_str_equal(base, vf_addr)) {
                        *ret = i;
                        return 0;
                }
        }
        return -ENOENT;
}

/* One RTM_SETLINK on the PF carrying IFLA_VFINFO_LIST/IFLA_VF_INFO with the flags. */
int vr_vf_set_flags(const char *pf, int vf, int spoofchk, int trust) {
        struct {
                struct nlmsghdr nh;
                struct ifinfomsg ifi;
                char buf[256];
        } req;
        struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
        struct rtattr *list, *info, *rta;
        struct nlmsgerr *err;
        char reply[1024];
        unsigned ifindex = if_nametoindex(pf);
        int fd, r;
        ssize_t n;

        if (!ifindex)
                return -ENODEV;
        if (spoofchk < 0 && trust < 0)
                return 0;
        memset(&req, 0, sizeof(req));
        req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
        req.nh.nlmsg_type = RTM_SETLINK;
        req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
        req.ifi.ifi_family = AF_UNSPEC;
        req.ifi.ifi_index = (int) ifindex;
#define TAIL ((struct rtattr *) (((char *) &req) + NLMSG_ALIGN(req.nh.nlmsg_len)))
        list = TAIL;
        list->rta_type = IFLA_VFINFO_LIST | NLA_F_NESTED;
        list->rta_len = RTA_LENGTH(0);
        req.nh.nlmsg_len = NLMSG_ALIGN(req.nh.nlmsg_len) + RTA_ALIGN(list->rta_len);
        info = TAIL;
        info->rta_type = IFLA_VF_INFO | NLA_F_NESTED;
        info->rta_len = RTA_LENGTH(0);
        req.nh.nlmsg_len = NLMSG_ALIGN(req.nh.nlmsg_len) + RTA_ALIGN(info->rta_len);
        if (spoofchk >= 0) {
                struct ifla_vf_spoofchk v = {.vf = (uint32_t) vf, .setting = (uint32_t) spoofchk};
                rta = TAIL;
                rta->rta_type = IFLA_VF_SPOOFCHK;
                rta->rta_len = RTA_LENGTH(sizeof(v));
                memcpy(RTA_DATA(rta), &v, sizeof(v));
                req.nh.nlmsg_len = NLMSG_ALIGN(req.nh.nlmsg_len) + RTA_ALIGN(rta->rta_len);
        }
        if (trust >= 0) {
                struct ifla_vf_trust v = {.vf = (uint32_t) vf, .setting = (uint32_t) trust};
                rta = TAIL;
                rta->rta_type = IFLA_VF_TRUST;
                rta->rta_len = RTA_LENGTH(sizeof(v));
                memcpy(RTA_DATA(rta), &v, sizeof(v));
                req.nh.nlmsg_len = NLMSG_ALIGN(req.nh.nlmsg_len) + RTA_ALIGN(rta->rta_len);
        }
#undef TAIL
        info->rta_len = (unsigned short) (((char *) &req + req.nh.nlmsg_len) - (char *) info);
        list->rta_len = (unsigned short) (((char *) &req + req.nh.nlmsg_len) - (char *) list);

        fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        if (fd < 0)
                return -errno;
        if (sendto(fd, &req, req.nh.nlmsg_len, 0, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                r = -errno;
                close(fd);
                return r;
        }
        n = recv(fd, reply, sizeof(reply), 0);
        r = n < 0 ? -errno : 0;
        close(fd);
        if (r < 0)
                return r;
        if (n >= (ssize_t) NLMSG_LENGTH(sizeof(*err)) && ((struct nlmsghdr *) reply)->nlmsg_type == NLMSG_ERROR) {
                err = NLMSG_DATA((struct nlmsghdr *) reply);
                return err->error; /* 0 is the ACK */
        }
        return -EPROTO;
}

int vr_pci_iommu_group(const char *root, const char *addr, int *ret) {
        g_autofree char *link = vr_root_path(root, "sys/bus/pci/devices/%s/iommu_group", addr);
        g_autofree char *target = g_file_read_link(link, NULL);
        g_autofree char *base = NULL;
        int64_t v;

        if (!target)
                return -ENOENT;
        base = g_path_get_basename(target);
        if (vr_parse_int(base, 0, G_MAXINT, &v) < 0)
                return -EINVAL;
        *ret = (int) v;
        return 0;
}

int vr_tc_run(const char *tc, char *const *args, GError **error) {
        g_autoptr(GPtrArray) argv = g_ptr_array_new();
        g_autofree char *out = NULL, *err = NULL, *said = NULL;
        g_autoptr(GError) e = NULL;
        int status = 0;

        g_ptr_array_add(argv, (gpointer) tc);
        for (char *const *a = args; *a; a++)
                g_ptr_array_add(argv, *a);
        g_ptr_array_add(argv, NULL);
        /* tc talks to the kernel over netlink and returns at once: nothing to time out. */
        if (!g_spawn_sync(NULL, (char **) argv->pdata, NULL, G_SPAWN_STDIN_FROM_DEV_NULL, NULL, NULL, &out, &err,
                          &status, &e)) {
                g_set_error_literal(error, VR_ERROR, VR_ERROR_HOST, e->message);
                return -ENOENT;
        }
        if (!g_spawn_check_wait_status(status, NULL)) {
                /* One line for the log: tc says it over two. */
                said = g_strstrip(g_strdup(err && *err ? err : out ? out : ""));
                g_strdelimit(said, "\n", ' ');
                g_set_error_literal(error, VR_ERROR, VR_ERROR_HOST, *said ? said : "tc failed");
                return -EIO;
        }
        return 0;
}

#!/bin/sh
# Builds the committed fake tree sriov/: sysfs as the kernel lays it out for SR-IOV
# NICs (relative symlinks, so it works under any root prefix). Re-run after changing
# it and commit the result; tests never run this script.
#   eth2: PF 0000:03:00.0 (ixgbe), 4 VFs 0000:03:10.{0,2,4,6} -> enp3s16f{0,2,4,6} (ixgbevf)
#   eth3: PF 0000:04:00.0 (i40e), 2 VFs 0000:04:02.{0,1} -> enp4s2f{0,1} (iavf)
#   eth4: PF 0000:05:00.0 without SR-IOV; eth0, eth1: virtual devices (macvtap parents)
set -eu
cd "$(dirname "$0")"
rm -rf sriov
r=sriov/sys
mkdir -p "$r/class/net" "$r/bus/pci/devices" "$r/kernel/iommu_groups" "$r/devices/virtual/net" \
         "$r/bus/pci/drivers/ixgbe" "$r/bus/pci/drivers/ixgbevf" "$r/bus/pci/drivers/i40e" \
         "$r/bus/pci/drivers/iavf" "$r/bus/pci/drivers/vfio-pci"
bridge=devices/pci0000:00/0000:00:02.0
group=20

pci_fn() { # ADDR DRIVER NETDEV
        d="$r/$bridge/$1"
        mkdir -p "$d/net/$3"
        echo 0x8086 > "$d/vendor"
        ln -s "../../../../bus/pci/drivers/$2" "$d/driver"
        ln -s "../../../$bridge/$1" "$r/bus/pci/devices/$1"
        mkdir -p "$r/kernel/iommu_groups/$group/devices"
        ln -s "../../../../kernel/iommu_groups/$group" "$d/iommu_group"
        ln -s "../../../../$bridge/$1" "$r/kernel/iommu_groups/$group/devices/$1"
        group=$((group + 1))
        echo "$3" > "$d/net/$3/ifname"
        ln -s "../../$bridge/$1/net/$3" "$r/class/net/$3"
        ln -s "../../../$1" "$d/net/$3/device"
}

pf() { # ADDR DRIVER NETDEV TOTAL VF-ADDRS...
        a=$1 drv=$2 nd=$3 total=$4
        shift 4
        pci_fn "$a" "$drv" "$nd"
        echo "$total" > "$r/$bridge/$a/sriov_totalvfs"
        echo "$#" > "$r/$bridge/$a/sriov_numvfs"
        i=0
        for vf in "$@"; do
                ln -s "../$vf" "$r/$bridge/$a/virtfn$i"
                i=$((i + 1))
        done
}

vf() { # ADDR DRIVER NETDEV PF-ADDR
        pci_fn "$1" "$2" "$3"
        ln -s "../$4" "$r/$bridge/$1/physfn"
}

pf 0000:03:00.0 ixgbe eth2 8 0000:03:10.0 0000:03:10.2 0000:03:10.4 0000:03:10.6
vf 0000:03:10.0 ixgbevf enp3s16f0 0000:03:00.0
vf 0000:03:10.2 ixgbevf enp3s16f2 0000:03:00.0
vf 0000:03:10.4 ixgbevf enp3s16f4 0000:03:00.0
vf 0000:03:10.6 ixgbevf enp3s16f6 0000:03:00.0
pf 0000:04:00.0 i40e eth3 64 0000:04:02.0 0000:04:02.1
vf 0000:04:02.0 iavf enp4s2f0 0000:04:00.0
vf 0000:04:02.1 iavf enp4s2f1 0000:04:00.0
pci_fn 0000:05:00.0 ixgbe eth4
for drv in ixgbe ixgbevf i40e iavf vfio-pci; do
        : > "$r/bus/pci/drivers/$drv/bind"
done
for v in eth0 eth1; do
        # Attributes as the kernel has them (and so git keeps the directories).
        mkdir -p "$r/devices/virtual/net/$v"
        echo 1000 > "$r/devices/virtual/net/$v/tx_queue_len"
        echo 1500 > "$r/devices/virtual/net/$v/mtu"
        ln -s "../../devices/virtual/net/$v" "$r/class/net/$v"
done

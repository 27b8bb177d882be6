#!/bin/busybox sh
# /init of the cgroup v2 test VM (see vm_test.go): PID 1 in a busybox
# initramfs, it mounts cgroup2 alone at /sys/fs/cgroup, loads the kernel
# modules saturn needs, runs every suite in /suites and reports each
# result on the serial console, then powers the VM off.
/bin/busybox --install -s /bin
export PATH=/bin

if [ "$1" != stage2 ]; then
	# pivot_root, which stage1 does into every pod, cannot move the
	# initramfs's rootfs away: run from a tmpfs instead.
	mount -t tmpfs -o mode=755 root /newroot
	for e in /*; do
		case $e in /newroot | /proc | /sys | /dev) ;; *) cp -a "$e" /newroot/ ;; esac
	done
	mkdir -p /newroot/proc /newroot/sys /newroot/dev
	exec switch_root /newroot /init stage2
fi

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm /tmp /run /var/tmp
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs shm /dev/shm
mount -t tmpfs tmp /tmp
# cgroup v2 alone, every controller there; no v1 hierarchy is mounted.
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
echo "SATURN-VM controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"

# Modules, dependencies first (the package has no modules.dep: depmod runs
# at install). brd gives the VM a block device for the io limits.
for m in $(cat /modules/order); do
	insmod "/modules/$m" || echo "SATURN-VM insmod $m failed"
done
ip link set lo up

export HOME=/root TMPDIR=/tmp SATURN_BUILD=/saturn SATURN_TESTAPP=/saturn/testapp
rc=0
for s in /suites/*; do
	[ -f "$s/run" ] || continue
	name=${s##*/}
	echo "SATURN-VM suite $name"
	(cd "$s" && sh ./run) 2>&1
	r=$?
	echo "SATURN-VM suite $name exit $r"
	[ $r -eq 0 ] || rc=1
done
echo "SATURN-VM done $rc"
poweroff -f

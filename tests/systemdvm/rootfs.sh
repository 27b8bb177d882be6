#!/usr/bin/env bash
# rootfs.sh KERNEL_DIR KERNEL_VERSION: prints the path of the systemd test
# VM's root file system, an ext4 image of Debian (debootstrap minbase with
# systemd as PID 1, dbus, systemd-container for machined and machinectl,
# kmod) and the kernel's modules. It is built once and cached in
# $SATURN_VM_CACHE (default /var/cache/saturn/testvm) under a key of its
# inputs (this script, the suite, the kernel): the VM boots it with
# qemu's snapshot=on, so it never changes. Packages come from the Debian
# mirror /etc/apt names; downloaded .debs are kept in the cache too.
#
# The root is made to boot fast under software emulation: no udev, no
# getty, no timers, no first-boot or update jobs, a volatile journal. The
# unit saturn-vmtest.service mounts the VM's second disk (saturn's build,
# dist/ and the checks, made for each run) and runs its vmtest.sh, its
# output on the serial console, then powers the VM off.
set -euo pipefail

kernel=${1:?usage: rootfs.sh KERNEL_DIR KERNEL_VERSION}
kver=${2:?usage: rootfs.sh KERNEL_DIR KERNEL_VERSION}
cache=${SATURN_VM_CACHE:-/var/cache/saturn/testvm}
suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
packages=systemd,systemd-sysv,dbus,systemd-container,kmod

key=$( (cat "$0"; echo "$suite $packages $kver") | sha256sum | cut -c1-16)
img=$cache/systemd-root-$key.img
if [[ -f $img ]]; then
	echo "$img"
	exit 0
fi

# The mirror apt uses for the suite (deb822 .sources or sources.list).
mirror() {
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		[[ -f $f ]] || continue
		awk -v suite="$suite" '
			/^$/ { if (ok && uri != "") { print uri; exit } ok = 0; uri = "" }
			/^URIs:/ { uri = $2 }
			/^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) ok = 1 }
			END { if (ok && uri != "") print uri }' "$f" | head -n1
	done
	awk -v suite="$suite" '$1 == "deb" && $3 == suite { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true
}
url=$(mirror | grep -v security | head -n1)
url=${url:-http://deb.debian.org/debian}

mkdir -p "$cache/debs"
exec 9>"$cache/.systemd-root.lock"
flock 9
if [[ -f $img ]]; then
	echo "$img"
	exit 0
fi
tmp=$(mktemp -d "$cache/.systemd-root.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
if ! debootstrap --variant=minbase --include="$packages" --cache-dir="$cache/debs" "$suite" "$root" "$url" >"$tmp/debootstrap.log" 2>&1; then
	tail -n 20 "$tmp/debootstrap.log" >&2
	echo "rootfs.sh: debootstrap $suite from $url failed" >&2
	exit 1
fi

# The kernel's modules (overlay for pod rootfs, veth...), found by
# modprobe: the kernel asks for overlay when stage0 first mounts one.
mkdir -p "$root/lib/modules"
cp -a "$kernel/lib/modules/$kver" "$root/lib/modules/"
chroot "$root" depmod "$kver"

echo saturn-vm >"$root/etc/hostname"
printf '127.0.0.1 localhost saturn-vm\n::1 localhost\n' >"$root/etc/hosts"
: >"$root/etc/fstab"
# A machine id of its own, so nothing runs as on a first boot.
echo 5a7e2b1c0d9f4e3aa1b2c3d4e5f60718 >"$root/etc/machine-id"
rm -rf "$root/var/log/journal"

# What a test machine does not need: each costs seconds under emulation.
for u in getty@.service serial-getty@.service console-getty.service getty.target \
	apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer e2scrub_reap.service \
	fstrim.timer systemd-tmpfiles-clean.timer systemd-pstore.service systemd-logind.service \
	systemd-update-utmp.service systemd-update-utmp-runlevel.service systemd-journal-flush.service \
	systemd-journal-catalog-update.service systemd-hwdb-update.service ldconfig.service \
	systemd-sysusers.service systemd-update-done.service systemd-machine-id-commit.service \
	systemd-firstboot.service systemd-binfmt.service systemd-random-seed.service \
	remote-fs.target cryptsetup.target veritysetup.target integritysetup.target \
	sys-kernel-debug.mount sys-kernel-tracing.mount dev-hugepages.mount dev-mqueue.mount \
	sys-fs-fuse-connections.mount sys-kernel-config.mount; do
	ln -sf /dev/null "$root/etc/systemd/system/$u"
done

cat >"$root/etc/systemd/system/saturn-vmtest.service" <<'UNIT'
[Unit]
Description=saturn's checks under systemd
After=multi-user.target
SuccessAction=poweroff-immediate
FailureAction=poweroff-immediate

[Service]
Type=oneshot
ExecStartPre=/bin/mkdir -p /opt/saturn-test
ExecStartPre=/bin/mount -o ro /dev/nvme0n2 /opt/saturn-test
ExecStart=/bin/bash /opt/saturn-test/vmtest.sh
StandardOutput=tty
StandardError=tty
TTYPath=/dev/ttyS0
TimeoutStartSec=infinity

[Install]
WantedBy=multi-user.target
UNIT
ln -sf ../saturn-vmtest.service "$root/etc/systemd/system/multi-user.target.wants/saturn-vmtest.service"

size=$(( $(du -sm "$root" | cut -f1) + 1536 ))
mke2fs -q -t ext4 -L saturn-root -d "$root" "$tmp/root.img" "${size}M" >/dev/null
mv "$tmp/root.img" "$img"
echo "$img"

# benchfs.sh, sourced by the benchmarks: mount_bench_fs DIR [SIZE] puts a
# fresh ext4 file system with a journal (a sparse image of SIZE, 2G by
# default, on a loop device) on DIR; umount_bench_fs DIR takes it away
# again.
#
# Every peer of a benchmark works in that file system, so all of them see
# the same, ordinary disk. The machines this runs on may have their root
# on ext4 *without* a journal, where each inode allocation scans every
# inode of its group deleted in the last 5 to 35 seconds (recently_deleted
# in ext4's ialloc.c): there a pod start, which makes some 40 inodes right
# after gc deleted as many, measures how much else was deleted lately on
# the machine rather than the runtime. A journaled ext4, what /var/lib
# usually is, has no such scan.

mount_bench_fs() {
	local dir=$1 size=${2:-2G}
	mkdir -p "$dir"
	truncate -s "$size" "$dir.img"
	mkfs.ext4 -q -F "$dir.img"
	mount -o loop "$dir.img" "$dir"
}

umount_bench_fs() {
	local dir=$1
	if mountpoint -q "$dir"; then
		umount "$dir" || umount -l "$dir"
	fi
	rm -f "$dir.img"
}

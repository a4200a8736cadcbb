/* SPDX-License-Identifier: MIT */
/*
 * godown MOUNTPOINT [FLAGS]: a power cut of an ext4 file system, for the
 * tests: EXT4_IOC_SHUTDOWN with FLAGS (default 2, EXT4_GOING_FLAGS_NOLOGFLUSH:
 * neither the data nor the journal not yet on the disk is written), after
 * which the file system refuses all I/O until it is unmounted and mounted
 * again, when it recovers from what was on the disk, as after a real cut.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/types.h>

#define EXT4_IOC_SHUTDOWN _IOR('X', 125, __u32)

int main(int argc, char **argv)
{
	__u32 flags = 2;
	int fd;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: godown MOUNTPOINT [FLAGS]\n");
		return 2;
	}
	if (argc == 3)
		flags = (__u32)strtoul(argv[2], NULL, 0);
	fd = open(argv[1], O_RDONLY | O_DIRECTORY);
	if (fd < 0 || ioctl(fd, EXT4_IOC_SHUTDOWN, &flags) < 0) {
		fprintf(stderr, "godown: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	close(fd);
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * Which interface is the tunnel, for the fail-closed guard (guard.c): with
 * kernel-libipsec, the TUN device among the descriptors of the charon we talk
 * to, else of a charon in our network namespace; never any interface merely
 * named ipsec*.
 */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vpn/vpn_int.h"

/*
 * The tunnel's own interface with kernel-libipsec: the TUN device whose file
 * descriptor charon holds (charon in this network namespace; the device's
 * name is charon's setting, ipsec0 by default). Not any interface called
 * ipsec*: one that another program makes with such a name carries traffic in
 * clear. "" if there is none (charon not running, or kernel ESP, where the
 * guard knows the tunnel by its IPsec policy: "rt ipsec exists").
 */
/* Without a look at charon's descriptors: the first TUN device (not a veth, not a dummy) named ipsec*. */
static void tun_by_type(char *out, size_t len)
{
	struct dirent *d;
	DIR *net = opendir("/sys/class/net");

	while (net && (d = readdir(net))) {
		char path[300];

		if (strncmp(d->d_name, "ipsec", 5) != 0 || strlen(d->d_name) >= len ||
		    strpbrk(d->d_name, "\"\\ "))
			continue;
		snprintf(path, sizeof(path), "/sys/class/net/%s/tun_flags", d->d_name);
		if (access(path, F_OK) == 0 && (!out[0] || strcmp(d->d_name, out) < 0))
			snprintf(out, len, "%s", d->d_name);
	}
	if (net)
		closedir(net);
}

/* The charon we talk to over VICI (vpn_guard_charon()), 0 if none: looked at before any other. */
static int charon_hint;

void vpn_guard_charon(int pid)
{
	__atomic_store_n(&charon_hint, pid, __ATOMIC_RELAXED);
}

/* Process pid is a charon in our network namespace. */
static bool our_charon(const char *pid, const struct stat *self)
{
	char path[600], comm[32] = "";
	struct stat other;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%s/comm", pid);
	fp = fopen(path, "re");
	if (!fp)
		return false;
	if (!fgets(comm, sizeof(comm), fp))
		comm[0] = '\0';
	fclose(fp);
	comm[strcspn(comm, "\n")] = '\0';
	if (strcmp(comm, "charon") != 0 && strcmp(comm, "charon-systemd") != 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%s/ns/net", pid);
	return stat(path, &other) == 0 && other.st_ino == self->st_ino && other.st_dev == self->st_dev;
}

/* The TUN device among pid's descriptors into out; false if its descriptors are closed to us. */
static bool tun_of(const char *pid, char *out, size_t len)
{
	char path[600];
	bool readable = true;
	struct dirent *f;
	DIR *fds;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%s/fdinfo", pid);
	fds = opendir(path);
	if (!fds)
		return false;
	while (!out[0] && (f = readdir(fds))) {
		char line[128];

		if (f->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/fdinfo/%s", pid, f->d_name);
		fp = fopen(path, "re");
		if (!fp) {
			readable = false;
			continue;
		}
		/* a TUN device's descriptor says which interface it is: "iff:\tipsec0" */
		while (fgets(line, sizeof(line), fp)) {
			if (strncmp(line, "iff:", 4) == 0) {
				char *n = line + 4 + strspn(line + 4, " \t");

				n[strcspn(n, "\n")] = '\0';
				/* an interface name nft can quote as it is */
				if (n[0] && strlen(n) < len && !strpbrk(n, "\"\\ "))
					snprintf(out, len, "%s", n);
				break;
			}
		}
		fclose(fp);
	}
	closedir(fds);
	return readable;
}

/* See vpn_int.h. */
void vpn_tunnel_if(char *out, size_t len)
{
	struct stat self;
	struct dirent *d;
	bool charon = false, unreadable = false;
	char hint[16];
	DIR *proc;

	out[0] = '\0';
	if (stat("/proc/self/ns/net", &self) != 0)
		return;
	/*
	 * the charon at the other end of our VICI socket first: a look at every
	 * process costs milliseconds on a busy machine
	 */
	snprintf(hint, sizeof(hint), "%d", __atomic_load_n(&charon_hint, __ATOMIC_RELAXED));
	if (strcmp(hint, "0") != 0 && our_charon(hint, &self) && (tun_of(hint, out, len), out[0]))
		return;
	out[0] = '\0';
	if (!(proc = opendir("/proc")))
		return;
	while (!out[0] && (d = readdir(proc))) {
		if (d->d_name[0] < '1' || d->d_name[0] > '9' || !our_charon(d->d_name, &self))
			continue;
		charon = true;
		if (!tun_of(d->d_name, out, len))
			unreadable = true;
	}
	closedir(proc);
	/*
	 * charon's descriptors may be closed to us (a service with fewer
	 * capabilities than charon's and no CAP_SYS_PTRACE): its kind of device
	 * then, a TUN device of its name
	 */
	if (!out[0] && charon && unreadable)
		tun_by_type(out, len);
}

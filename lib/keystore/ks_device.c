/* SPDX-License-Identifier: MIT */
/*
 * When a TPM or a PKCS#11 module must have answered: the command's
 * deadline, and a probe in a child that is abandoned at it (tpm2-tss and
 * PKCS#11 modules can hang without a time limit of their own).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "keystore/keystore.h"
#include "keystore/ks_int.h"

/* each thread's own: an ordered renewal's thread holds its run's, the LwM2M loop its own */
static _Thread_local uint64_t ks_deadline;

void m2m_keystore_set_deadline(uint64_t deadline_ms)
{
	ks_deadline = deadline_ms;
}

uint64_t ks_deadline_set(void)
{
	return ks_deadline;
}

uint64_t ks_deadline_ms(void)
{
	return ks_deadline ? ks_deadline : m2m_now_ms() + M2M_KEYSTORE_DEFAULT_MS;
}

/*
 * What the command still needs once a probe is abandoned: kill and reap the
 * child, say why, exit. The probe gives up this much before the deadline, so
 * the command itself ends within its limit, also on a loaded machine.
 */
#define KS_EXIT_RESERVE_MS 150

int ks_probe(const char *what, int (*fn)(void *), void *arg, struct m2m_err *err)
{
	uint64_t deadline = ks_deadline_ms(), now;
	struct pollfd pf;
	int fds[2], n = 0;
	pid_t pid;
	char res = 0;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return M2M_OK;
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return M2M_OK;
	}
	if (pid == 0) {
		close(fds[0]);
		res = fn(arg) == 0 ? 1 : 2;
		_exit(write(fds[1], &res, 1) == 1 ? 0 : 1);
	}
	close(fds[1]);
	now = m2m_now_ms();
	deadline = deadline > now + 2 * KS_EXIT_RESERVE_MS ? deadline - KS_EXIT_RESERVE_MS :
		   deadline > now ? now + (deadline - now) / 2 : now;
	pf = (struct pollfd){ .fd = fds[0], .events = POLLIN };
	while ((now = m2m_now_ms()) < deadline) {
		n = poll(&pf, 1, (int)(deadline - now < 1000 ? deadline - now : 1000));
		if (n != 0 && !(n < 0 && errno == EINTR))
			break;
	}
	if (n > 0 && read(fds[0], &res, 1) == 1 && res) {
		close(fds[0]);
		waitpid(pid, NULL, 0);
		return M2M_OK; /* answered; a failure is for the real attempt to describe */
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(fds[0]);
	if (n > 0)
		return M2M_OK; /* the child died: let the real attempt say why */
	return m2m_err_set(err, M2M_ERR_DEVICE, "%s in time (a frozen daemon or device?)", what);
}

/* SPDX-License-Identifier: MIT */
/* What every tool of the family does first, and the terminal prompt the library asks through. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "cli/cli.h"

int cli_tty_prompt(void *ctx, const char *what, char *buf, size_t size, struct m2m_err *err)
{
	struct termios old, quiet;
	size_t len = 0;
	int fd, rc;

	(void)ctx;
	/* cron and scripts are never asked: they would hang on a prompt nobody sees */
	if (!isatty(STDIN_FILENO))
		return m2m_err_set(err, M2M_ERR_CREDENTIAL,
				   "%s: needed, but stdin is not a terminal (use pin.file, pin.fd or pin.credential)",
				   what);
	fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return m2m_err_set(err, M2M_ERR_CREDENTIAL, "%s: /dev/tty: %s", what, strerror(errno));
	dprintf(fd, "%s: ", what);
	tcgetattr(fd, &old);
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	quiet.c_lflag |= ICANON;
	tcsetattr(fd, TCSAFLUSH, &quiet);
	rc = M2M_OK;
	for (;;) {
		char c;
		ssize_t n = read(fd, &c, 1);

		if (n < 0 && errno == EINTR) {
			/* a signal (Ctrl-C, SIGTERM) ends the prompt; the terminal is restored below */
			rc = m2m_err_set(err, M2M_ERR_CREDENTIAL, "%s: cancelled", what);
			break;
		}
		if (n <= 0 || c == '\n')
			break;
		if (len + 1 >= size) {
			rc = m2m_err_set(err, M2M_ERR_CREDENTIAL, "%s: too long", what);
			break;
		}
		buf[len++] = c;
	}
	buf[len] = '\0';
	tcsetattr(fd, TCSAFLUSH, &old);
	dprintf(fd, "\n");
	close(fd);
	return rc;
}

void cli_init(void)
{
	/* keys and certificates we write are ours alone; no secret ends in a core file */
	umask(077);
	setrlimit(RLIMIT_CORE, &(struct rlimit){ 0, 0 });
	prctl(PR_SET_DUMPABLE, 0);
	m2m_set_prompt(cli_tty_prompt, NULL);
}

static volatile int stop_flag;

static void on_stop(int sig)
{
	(void)sig;
	stop_flag = 1;
}

volatile const int *cli_catch_stop(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	return &stop_flag;
}

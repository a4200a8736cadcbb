/* SPDX-License-Identifier: MIT */
/* Progress of a long step: a bar on a terminal, plain lines elsewhere (progress.h). */
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "base/base.h"
#include "cli/progress.h"

void cli_human_bytes(uint64_t b, char *buf, size_t len)
{
	if (b < 10240)
		snprintf(buf, len, "%llu B", (unsigned long long)b);
	else if (b < 1ull << 20)
		snprintf(buf, len, "%.1f KiB", b / 1024.0);
	else if (b < 1ull << 30)
		snprintf(buf, len, "%.1f MiB", b / 1048576.0);
	else
		snprintf(buf, len, "%.1f GiB", b / 1073741824.0);
}

static void human_left(uint64_t s, char *buf, size_t len)
{
	if (s < 100)
		snprintf(buf, len, "%llu s left", (unsigned long long)s);
	else if (s < 6000)
		snprintf(buf, len, "%llu min left", (unsigned long long)(s + 30) / 60);
	else
		snprintf(buf, len, "%llu h %02llu min left", (unsigned long long)(s / 3600),
			 (unsigned long long)(s % 3600 / 60));
}

void cli_progress_init(struct cli_progress *p, FILE *out, bool quiet)
{
	memset(p, 0, sizeof(*p));
	p->out = out;
	p->quiet = quiet;
	p->tty = isatty(fileno(out));
	p->decile = -1;
}

static unsigned columns(FILE *out)
{
	struct winsize ws;

	if (ioctl(fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40)
		return ws.ws_col;
	return 80;
}

static void draw(struct cli_progress *p, uint64_t done, uint64_t total, const char *what,
		 uint64_t now)
{
	char line[512], a[24], b[24], r[24] = "", left[32] = "", bar[41];
	unsigned cols = columns(p->out), pct = total ? (unsigned)(done * 100 / total) : 0;
	uint64_t ms = now - p->t0_ms, moved = done - p->done0;
	size_t n, w = 20;

	/* the bar fills with what is known; without a total it stays empty */
	memset(bar, ' ', w);
	for (size_t i = 0; total && i < w * done / total && i < w; i++)
		bar[i] = '#';
	bar[w] = '\0';
	if (p->bytes) {
		cli_human_bytes(done, a, sizeof(a));
		cli_human_bytes(total, b, sizeof(b));
		/* the rate and the time left only once there is something to go by */
		if (ms >= 500 && moved) {
			uint64_t rate = moved * 1000 / ms;

			cli_human_bytes(rate, r, sizeof(r));
			strcat(r, "/s");
			if (total > done && rate)
				human_left((total - done) / rate, left, sizeof(left));
		}
		n = (size_t)snprintf(line, sizeof(line), "%-8s %3u%% [%s] %s / %s  %s  %s", p->phase,
				     pct, bar, a, total ? b : "?", r, left);
	} else {
		n = (size_t)snprintf(line, sizeof(line), "%-8s %3u%% [%s] %s", p->phase, pct, bar,
				     what ? what : "");
	}
	if (n >= sizeof(line))
		n = sizeof(line) - 1;
	/* one line, never wrapped: a wrapped line could not be redrawn in place */
	if (n > cols - 1)
		line[cols - 1] = '\0';
	fprintf(p->out, "\r%s\033[K", line);
	fflush(p->out);
	p->drawn = true;
	p->last_ms = now;
}

/* plain lines: a step that never knew its total says at its end how far it went */
static void plain_end(struct cli_progress *p)
{
	char a[24];

	if (p->tty || p->quiet || !p->phase[0] || p->total || !p->done)
		return;
	if (p->bytes) {
		cli_human_bytes(p->done, a, sizeof(a));
		fprintf(p->out, "%s: %s\n", p->phase, a);
	} else {
		fprintf(p->out, "%s: %llu%%\n", p->phase, (unsigned long long)p->done);
	}
	fflush(p->out);
}

void cli_progress_update(struct cli_progress *p, const char *phase, uint64_t done,
			 uint64_t total, bool bytes, const char *what)
{
	uint64_t now = m2m_now_ms();
	bool new_phase = strcmp(p->phase, phase) != 0;

	if (p->quiet)
		return;
	if (new_phase) {
		plain_end(p);
		snprintf(p->phase, sizeof(p->phase), "%s", phase);
		p->t0_ms = now;
		p->done0 = done;
		p->decile = -1;
		p->bytes = bytes;
	}
	if (done > total && total)
		done = total;
	p->done = done;
	p->total = total;
	if (p->tty) {
		if (new_phase || now - p->last_ms >= 100 || (total && done == total))
			draw(p, done, total, what, now);
		return;
	}
	/* not a terminal: a line at each 10 % passed, once the total is known */
	if (total) {
		int d = (int)(done * 10 / total);
		char a[24], b[24];

		if (d <= p->decile)
			return;
		p->decile = d;
		if (bytes) {
			cli_human_bytes(done, a, sizeof(a));
			cli_human_bytes(total, b, sizeof(b));
			fprintf(p->out, "%s: %d%% (%s of %s)\n", phase, d * 10, a, b);
		} else {
			fprintf(p->out, "%s: %d%%%s%s\n", phase, d * 10, what && *what ? ": " : "",
				what ? what : "");
		}
		fflush(p->out);
	}
}

void cli_progress_clear(struct cli_progress *p)
{
	if (p->out && p->drawn) {
		fputs("\r\033[K", p->out);
		fflush(p->out);
	}
	p->drawn = false;
}

void cli_progress_end(struct cli_progress *p)
{
	plain_end(p);
	if (p->drawn) {
		fputs("\r\033[K", p->out);
		fflush(p->out);
	}
	p->drawn = false;
	p->phase[0] = '\0';
}

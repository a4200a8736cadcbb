/* SPDX-License-Identifier: MIT */
/*
 * Progress of a long step for the tools (progress.c): on a terminal one line
 * redrawn at most 10 times a second (percent, bytes, rate, time left) and
 * cleared at the end; otherwise a plain line every 10 %; nothing when quiet.
 */
#ifndef M2M_CLI_PROGRESS_H
#define M2M_CLI_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct cli_progress {
	FILE *out;
	bool tty;           /* redraw one line; else plain lines */
	bool quiet;         /* nothing at all */
	bool drawn;         /* a bar is on the terminal's line */
	char phase[16];     /* the step shown */
	bool bytes;         /* done/total are bytes (else a percentage) */
	uint64_t t0_ms, done0; /* the step's start: its rate is from here */
	uint64_t last_ms;   /* the last redraw */
	int decile;         /* plain lines: the last 10 % printed */
	uint64_t done, total; /* the last figures */
};

/* out: where to draw (a terminal gets the bar); quiet: draw nothing. */
void cli_progress_init(struct cli_progress *p, FILE *out, bool quiet);
/*
 * The step phase is at done of total (total 0: not known yet); bytes: they
 * count bytes, else done is a percentage of total 100; what: words to show
 * after the figures (may be NULL).
 */
void cli_progress_update(struct cli_progress *p, const char *phase, uint64_t done,
			 uint64_t total, bool bytes, const char *what);
/*
 * Clear the bar (the line is free for the result); plain lines: a step whose
 * total was never known gets one line with what it did.
 */
void cli_progress_end(struct cli_progress *p);

/* Take the bar off the line (a log line is about to be written); the next update redraws it. */
void cli_progress_clear(struct cli_progress *p);

/* "12.3 MiB" */
void cli_human_bytes(uint64_t b, char *buf, size_t len);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * dtls-floor: the resident memory below which no DTLS client on OpenSSL 3 can go on
 * this machine. It only initialises libssl, makes a DTLS client context and one
 * connection object, says "ready" on stdout and sleeps until a signal; the bench reads
 * its /proc/PID/status. No socket, no handshake, no CoAP: everything a real client has
 * on top of this is its own cost (or its CoAP library's).
 */
#include <openssl/ssl.h>
#include <stdio.h>
#include <unistd.h>

int main(void)
{
	SSL_CTX *ctx;
	SSL *ssl;

	if (!OPENSSL_init_ssl(0, NULL) || !(ctx = SSL_CTX_new(DTLS_client_method())) ||
	    !(ssl = SSL_new(ctx))) {
		fprintf(stderr, "dtls-floor: OpenSSL initialisation failed\n");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	pause();
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	return 0;
}

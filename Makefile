# m2m: plain GNU make. `make`, `make check`, `make install`, `make fuzz`.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR ?= $(PREFIX)/share/man
DATADIR ?= $(PREFIX)/share
SYSCONFDIR ?= /etc
DESTDIR ?=

CC ?= cc
PKG_CONFIG ?= pkg-config
VERSION := 0.1.0
SOVERSION := 0

PKGS := yaml-0.1 json-c libcrypto libssl libcbor libcoap-3-openssl
# libcurl (http and https pulls), libnftables (fail-closed guard), tpm2-tss (TPM keys),
# a PKCS#11 module and libsystemd (sd-bus: the SIM from ModemManager) are dlopen()ed when
# first used: only their headers are needed at build time
PKGS_HEADERS := libcurl libnftables p11-kit-1 tss2-esys tss2-tctildr tss2-rc libsystemd
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) $(PKGS_HEADERS))
# --as-needed: each tool loads only the libraries it calls (start-up time, RSS)
PKG_LIBS := -Wl,--as-needed $(shell $(PKG_CONFIG) --libs $(PKGS)) -ldl -lm

CFLAGS ?= -O2 -g
WARN := -Wall -Wextra -Wshadow -Wformat=2 -Wno-unused-parameter -Wstrict-prototypes -Wmissing-prototypes
ifeq ($(WERROR),1)
WARN += -Werror
endif
ALL_CFLAGS := -std=gnu11 $(WARN) -fPIC -D_GNU_SOURCE -Ilib/include -Ilib $(PKG_CFLAGS) $(CFLAGS)
LDLIBS := $(PKG_LIBS)

ifeq ($(V),1)
Q :=
else
Q := @
endif

B := build
# lib/cli (options, output, prompts: it prints) serves the tools only: it is kept out of
# libm2m.a and libm2m.so, in a tools-only archive
CLI_SRC := $(sort $(wildcard lib/cli/*.c))
CLI_OBJ := $(CLI_SRC:%.c=$(B)/%.o)
LIB_SRC := $(filter-out $(CLI_SRC),$(sort $(wildcard lib/*/*.c)))
LIB_OBJ := $(LIB_SRC:%.c=$(B)/%.o)
CMD_SRC := $(sort $(wildcard cmd/*.c))
CMDS := $(CMD_SRC:cmd/%.c=$(B)/bin/%)
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNITS := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
TOOL_SRC := $(sort $(wildcard tests/tools/*.c))
TOOLS := $(TOOL_SRC:tests/tools/%.c=$(B)/tests/tools/%)
EXAMPLE_SRC := $(sort $(wildcard examples/*.c))
EXAMPLES := $(EXAMPLE_SRC:examples/%.c=$(B)/examples/%)
BENCH_SRC := $(sort $(wildcard bench/*.c))
BENCHES := $(BENCH_SRC:bench/%.c=$(B)/bench/%)
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZERS := $(FUZZ_SRC:tests/fuzz/%.c=$(B)/fuzz/%)

MAN_IN := $(sort $(wildcard man/*.1.in man/*.3.in man/*.5.in man/*.7.in))
MAN_PLAIN := $(sort $(wildcard man/*.1 man/*.3 man/*.5 man/*.7))
MANS := $(MAN_IN:man/%.in=$(B)/man/%) $(MAN_PLAIN:man/%=$(B)/man/%) $(B)/man/m2m-exit-codes.7

all: $(B)/libm2m.a $(B)/libm2m.so.$(SOVERSION) $(CMDS) $(B)/libm2m.pc $(MANS) $(BENCHES) $(EXAMPLES)

# man pages: the exit codes are written once (man/exit-codes.roff) and inlined in every page
$(B)/man/%: man/%.in man/exit-codes.roff
	@mkdir -p $(dir $@)
	$(Q)sed -e 's|@VERSION@|$(VERSION)|g' -e '/@EXIT_CODES@/{r man/exit-codes.roff' -e 'd}' $< > $@
$(B)/man/%: man/%
	@mkdir -p $(dir $@)
	$(Q)sed -e 's|@VERSION@|$(VERSION)|g' -e '/@EXIT_CODES@/{r man/exit-codes.roff' -e 'd}' $< > $@
$(B)/man/m2m-exit-codes.7: man/exit-codes.roff Makefile
	@mkdir -p $(dir $@)
	$(Q)(printf '.TH M2M-EXIT-CODES 7 "2026-11" "m2m $(VERSION)" "m2m manual"\n.SH NAME\nm2m-exit-codes \\- exit status of the m2m tools\n'; \
	  cat $<; printf '.SH SEE ALSO\n.BR m2mvpn-connect (1),\n.BR m2mvpn-cert (1),\n.BR m2mdm-status (1),\n.BR m2mdm-policy (1),\n.BR m2m.yaml (5)\n') > $@

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(B)/libm2m.a: $(LIB_OBJ)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(B)/libm2m-cli.a: $(CLI_OBJ)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(B)/libm2m.so.$(SOVERSION): $(LIB_OBJ) lib/libm2m.map
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -shared -Wl,-soname,libm2m.so.$(SOVERSION) -Wl,--version-script=lib/libm2m.map \
		$(LDFLAGS) -o $@ $(LIB_OBJ) $(LDLIBS)
	$(Q)ln -sf libm2m.so.$(SOVERSION) $(B)/libm2m.so

# tools link the static library: a single self-contained binary per tool; a tool with
# subcommands keeps one file each in cmd/<tool>/ (as wireguard-tools does), linked in too
.SECONDEXPANSION:
$(B)/bin/%: $(B)/cmd/%.o $$(addprefix $(B)/,$$(addsuffix .o,$$(basename $$(wildcard cmd/$$*/*.c)))) \
		$(B)/libm2m-cli.a $(B)/libm2m.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(B)/libm2m-cli.a $(B)/libm2m.a $(LDLIBS)

# m2mvpn-connect loads libcrypto and json-c on their first call instead of at start-up
# (status and a cached up call no libcrypto, only --json calls json-c; lazy.c says why);
# x86-64 only, elsewhere as usual
ifeq ($(firstword $(subst -, ,$(shell $(CC) -dumpmachine))),x86_64)
LAZY_LIBS := crypto json-c
LAZY_OBJS := $(B)/cmd/m2mvpn-connect.o $(patsubst %.c,$(B)/%.o,$(wildcard cmd/m2mvpn-connect/*.c))
$(B)/lazy-%.S: $(LAZY_OBJS) $(B)/libm2m-cli.a $(B)/libm2m.a scripts/lazy-stubs
	$(Q)so=$$($(CC) -print-file-name=lib$*.so); \
	nm -u --format=posix $(filter %.o %.a,$^) | awk 'NF == 2 { print $$1 }' | sort -u > $@.want && \
	nm -D --defined-only --format=posix $$so | awk '$$2 == "T" { sub(/@.*/, "", $$1); print $$1 }' | sort -u > $@.have && \
	comm -12 $@.want $@.have | scripts/lazy-stubs \
		"$$(objdump -p $$so | awk '$$1 == "SONAME" { print $$2 }')" $(subst -,_,$*) > $@
$(B)/lazy-%.o: $(B)/lazy-%.S
	$(Q)$(CC) -c -o $@ $<
$(B)/bin/m2mvpn-connect: $(LAZY_LIBS:%=$(B)/lazy-%.o)
$(B)/bin/m2mvpn-connect: LDLIBS = $(filter-out $(LAZY_LIBS:%=-l%),$(PKG_LIBS))
endif

# test_base stands in for a name server that never answers (m2m_resolve's bound on its threads)
$(B)/tests/test_base: LDFLAGS += -Wl,--wrap=getaddrinfo
$(B)/tests/%: $(B)/tests/unit/%.o $(B)/libm2m-cli.a $(B)/libm2m.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(B)/libm2m-cli.a $(B)/libm2m.a $(LDLIBS) $(shell $(PKG_CONFIG) --libs cmocka)

$(B)/libm2m.pc: lib/libm2m.pc.in Makefile
	@mkdir -p $(B)
	$(Q)sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
		-e 's|@VERSION@|$(VERSION)|' -e 's|@REQUIRES@|$(PKGS)|' $< > $@

# test helpers (tests/tools/*.c, not installed) and bench helpers (bench/*.c)
$(B)/tests/tools/%: $(B)/tests/tools/%.o $(B)/libm2m.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(B)/libm2m.a $(LDLIBS)

# bench helpers (bench/*.c) link the static library like the tools
$(B)/bench/%: $(B)/bench/%.o $(B)/libm2m.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(B)/libm2m.a $(LDLIBS)

# test PKCS#11 modules (tests/tools/so/*.c): shared objects, not installed
TOOL_SO_SRC := $(sort $(wildcard tests/tools/so/*.c))
TOOL_SOS := $(TOOL_SO_SRC:tests/tools/so/%.c=$(B)/tests/tools/lib%.so)
$(B)/tests/tools/lib%.so: tests/tools/so/%.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  SO      $@")
	$(Q)$(CC) $(ALL_CFLAGS) -shared -o $@ $<

units: $(UNITS) $(TOOLS) $(TOOL_SOS)

# examples/*.c are applications of the public C API, built against the installed-style headers only
$(B)/examples/%: examples/%.c $(B)/libm2m.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) -std=c11 $(WARN) -Ilib/include $(CFLAGS) $(LDFLAGS) -o $@ $< $(B)/libm2m.a $(LDLIBS)
examples: $(EXAMPLES)

# libFuzzer targets (clang); each links the library sources with sanitizers
FUZZ_CC ?= clang
FUZZ_CFLAGS := -g -O1 -fsanitize=address,undefined -fsanitize=fuzzer-no-link -std=gnu11 -D_GNU_SOURCE \
	-Ilib/include -Ilib $(PKG_CFLAGS)
# the library is compiled once with sanitizers and coverage; each target only links it
FUZZ_OBJ := $(LIB_SRC:%.c=$(B)/fuzzobj/%.o)
$(B)/fuzzobj/%.o: %.c
	@mkdir -p $(dir $@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -MMD -MP -c -o $@ $<
$(B)/fuzz/%: tests/fuzz/%.c $(FUZZ_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZ    $@")
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJ) $(LDLIBS)
fuzz: $(FUZZERS)

check: all units
	tests/run

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR)/m2m \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man7 \
		$(DESTDIR)$(DATADIR)/bash-completion/completions $(DESTDIR)$(DATADIR)/zsh/vendor-completions \
		$(DESTDIR)$(DATADIR)/m2m/lwm2m
	install -m 0755 $(CMDS) $(DESTDIR)$(BINDIR)/
	install -m 0644 $(B)/libm2m.a $(DESTDIR)$(LIBDIR)/
	install -m 0755 $(B)/libm2m.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/
	ln -sf libm2m.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libm2m.so
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
		-e 's|@VERSION@|$(VERSION)|' -e 's|@REQUIRES@|$(PKGS)|' lib/libm2m.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/libm2m.pc
	install -m 0644 lib/include/m2m/*.h $(DESTDIR)$(INCLUDEDIR)/m2m/
	install -m 0644 lwm2m/ddf/*.xml $(DESTDIR)$(DATADIR)/m2m/lwm2m/
	for f in $(MANS); do s=$${f##*.}; install -m 0644 $$f $(DESTDIR)$(MANDIR)/man$$s/; done
	for f in completions/*.bash; do [ -e "$$f" ] && install -m 0644 $$f \
		$(DESTDIR)$(DATADIR)/bash-completion/completions/$$(basename $$f .bash); done; true
	for f in completions/_*; do [ -e "$$f" ] && install -m 0644 $$f $(DESTDIR)$(DATADIR)/zsh/vendor-completions/; done; true

clean:
	rm -rf $(B)

# what the build takes from the system, for tests/integration/01-deps.t: pkg-config names,
# then the compilers and the libraries given to the linker with -l
print-deps:
	@echo pkg-config: $(PKGS) $(PKGS_HEADERS)
	@echo programs: $(CC) $(FUZZ_CC) $(PKG_CONFIG) $(AR)
	@echo libs: $(filter -l%,$(LDLIBS))

.PHONY: all units examples fuzz check install clean print-deps
.SECONDARY:
-include $(shell find $(B) -name '*.d' 2>/dev/null)

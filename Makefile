# rackboot: two commands do everything (see README.md).
#   sudo make serve IFACE=eth1   build and run `rackboot serve` on the embedded defaults
#   sudo make test               install the test dependencies and run the whole suite

# bash, not sh: the e2e rule reads the test's exit status through PIPESTATUS.
SHELL   := /bin/bash
GO      ?= go
BIN     := bin/rackboot
IFACE   ?=
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)
# What `rackboot version` prints beside VERSION (internal/version).
COMMIT  := $(shell git rev-parse --short=12 HEAD 2>/dev/null)
DATE    := $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS := -X rackboot/internal/version.Version=$(VERSION) -X rackboot/internal/version.Commit=$(COMMIT) -X rackboot/internal/version.Date=$(DATE)

# What `serve` needs at run time: iPXE builds to hand out, memtest86+ for the menu.
RUN_DEPS  := ipxe memtest86+
# What the tests need: real PXE clients (QEMU, OVMF, iPXE ROMs) and real peers.
TEST_DEPS := $(RUN_DEPS) qemu-system-x86 ovmf ipxe-qemu dnsmasq tftpd-hpa tftp-hpa atftp iproute2 gcc binutils busybox curl tmux chromium
# Full DHCP mode's real clients and relay (internal/dhcp full_*_linux_test.go).
TEST_DEPS += isc-dhcp-client dhcpcd-base isc-dhcp-relay
# SmartOS ISOs made at test time (internal/smartos iso_test.go).
TEST_DEPS += genisoimage xorriso
# A real etcd (3.4) for the etcd store's tests (internal/store/etcdstore).
TEST_DEPS += etcd-server
# A real IPv6 router beside rackboot's router advertisements (test/e2e ra_test.go).
TEST_DEPS += radvd
# A real BMC (OpenIPMI's ipmi_sim, lanplus) and ipmitool to cross-check it (internal/bmc, test/e2e bmc_test.go).
TEST_DEPS += openipmi ipmitool
# The packages and service files (packaging/): xmllint checks the SMF
# manifest against its DTD, shellcheck the rc.d and maintainer scripts,
# systemd-analyze the unit (packaging/mkdeb, packaging/*_test.go).
TEST_DEPS += libxml2-utils shellcheck systemd
# Debian's installer and its signed shim and GRUB for boot targets and Secure Boot (test/e2e
# targets_test.go), GRUB's script checker for the generated grub.cfg (internal/secureboot, menu).
TEST_DEPS += debian-installer-12-netboot-amd64 grub-common

.PHONY: package build serve test unit e2e vet cross deps-run deps-test bench bench-go clean deps-bench bench-storm bench-dhcp bench-boot

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/rackboot

serve: deps-run build
	./$(BIN) serve $(if $(IFACE),--interface $(IFACE))

test: deps-test vet cross unit e2e

# internal/bmc's tests fail, not skip, without ipmi_sim.
unit: export RACKBOOT_IPMI_REQUIRED = 1
unit:
	RACKBOOT_DHCP_CLIENTS_REQUIRED=1 RACKBOOT_ISO_TOOLS_REQUIRED=1 RACKBOOT_ETCD_REQUIRED=1 RACKBOOT_PACKAGING_REQUIRED=1 RACKBOOT_GRUB_REQUIRED=1 $(GO) test -race -count=1 $$($(GO) list ./... | grep -v -e /test/e2e -e /bench/)

e2e:
	RACKBOOT_E2E_REQUIRED=1 $(GO) test -count=1 -timeout 25m -parallel 3 -v ./test/e2e/ 2>&1 | tee test/e2e/last-run.log | grep -E '^(=== RUN|--- |PASS|FAIL|ok|e2e: accel|\s+.*boot .* took)'; exit $${PIPESTATUS[0]}

vet:
	@test -z "$$(gofmt -l .)" || { gofmt -l .; echo 'gofmt: files above need formatting'; exit 1; }
	@$(GO) mod tidy -diff >/dev/null || { $(GO) mod tidy -diff; echo 'go.mod/go.sum: run go mod tidy'; exit 1; }
	$(GO) vet ./...

cross:
	GOOS=freebsd $(GO) build ./...
	GOOS=illumos $(GO) build ./...

# Install packages only when one is missing, so that repeated runs are quick.
deps-run:
	@dpkg -s $(RUN_DEPS) >/dev/null 2>&1 || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $(RUN_DEPS); }

# The packaged dnsmasq, tftpd-hpa and etcd services would listen on the host:
# the tests run their own copies (in network namespaces, or etcd on free
# loopback ports), so stop the services.
deps-test:
	@dpkg -s $(TEST_DEPS) >/dev/null 2>&1 || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $(TEST_DEPS); \
		for s in dnsmasq tftpd-hpa isc-dhcp-relay etcd radvd; do service $$s stop >/dev/null 2>&1 || true; done; }

# Every benchmark that writes BENCHMARKS.md (root: network namespaces).
bench: bench-dhcp bench-storm bench-boot

# One machine's boot time, BIOS and UEFI, rackboot against the seed blog's
# stack (dnsmasq, tftpd-hpa, nginx, bootstrap.ipxe) in QEMU; rewrites
# BENCHMARKS.md's boot section and bench/results/boot.json.
# BENCH_BOOT_RUNS: runs of each stack and firmware (median reported).
BENCH_BOOT_RUNS ?= 3
bench-boot: deps-bench deps-test
	RACKBOOT_BENCH_BOOT=1 RACKBOOT_BENCH_BOOT_RUNS=$(BENCH_BOOT_RUNS) $(GO) test -count=1 -timeout 60m -v -run TestBootTimes ./bench/boot

# Go micro-benchmarks (go test -bench).
bench-go:
	$(GO) test -run '^$$' -bench . ./...

# Boot storm, TFTP and HTTP against the seed blog's stack (dnsmasq, tftpd-hpa,
# nginx), in network namespaces (root); rewrites BENCHMARKS.md's storm section
# and bench/results/storm.json. BENCH_STORM_FLAGS: see `go run ./bench/storm -h`.
BENCH_DEPS := ipxe dnsmasq tftpd-hpa nginx-light iproute2 ethtool
BENCH_STORM_FLAGS ?=

deps-bench:
	@dpkg -s $(BENCH_DEPS) >/dev/null 2>&1 || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $(BENCH_DEPS); \
		for s in dnsmasq tftpd-hpa nginx; do service $$s stop >/dev/null 2>&1 || true; done; }

bench-storm: deps-bench build
	$(GO) run ./bench/storm -rackboot $(BIN) $(BENCH_STORM_FLAGS)

# Full DHCP mode against Kea (kea-dhcp4, memfile) and dnsmasq with Kea's
# perfdhcp, in network namespaces (root); rewrites BENCHMARKS.md's DHCP
# section. BENCH_DHCP_FLAGS: see `go run ./bench/dhcp -h`.
BENCH_DHCP_DEPS := kea-admin kea-dhcp4-server dnsmasq iproute2
BENCH_DHCP_FLAGS ?=

bench-dhcp: build
	@dpkg -s $(BENCH_DHCP_DEPS) >/dev/null 2>&1 || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $(BENCH_DHCP_DEPS); \
		for s in dnsmasq kea-dhcp4-server kea-ctrl-agent; do service $$s stop >/dev/null 2>&1 || true; done; }
	$(GO) run ./bench/dhcp -rackboot $(BIN) -write BENCHMARKS.md $(BENCH_DHCP_FLAGS)

# Debian packages (packaging/, built with nFPM by packaging/mkdeb):
# dist/rackboot_<version>_<arch>.deb. Static binaries, so one package
# runs on every Debian and Ubuntu release of its architecture.
DEB_ARCHES := amd64 arm64

package: build
	for a in $(DEB_ARCHES); do \
		CGO_ENABLED=0 GOOS=linux GOARCH=$$a $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o dist/linux_$$a/rackboot ./cmd/rackboot || exit 1; \
	done
	$(GO) run ./packaging/mkdeb -version $(VERSION) -date $(DATE) -docs-from $(BIN) -out dist \
		$(foreach a,$(DEB_ARCHES),$(a)=dist/linux_$(a)/rackboot)

clean:
	rm -rf dist bin test/e2e/out test/e2e/last-run.log

// Package e2e is rackboot's end-to-end harness: it builds a small network out
// of Linux network namespaces, starts real peers in it (dnsmasq, tftpd-hpa,
// busybox httpd, rackboot itself) and boots real PXE firmware in QEMU (SeaBIOS
// with QEMU's iPXE option ROM, and OVMF's own PXE client) against them.
//
// The pieces, one file each:
//
//	require.go     skip (or, with RACKBOOT_E2E_REQUIRED=1, fail) when root or tools are missing
//	netns.go       a network namespace: run commands in it, dial into it
//	lab.go         the topology: namespace "server" with br0, taps for QEMU, veth'd hosts
//	proc.go        a background process with its output in a log file, stopped at cleanup
//	testkernel.go  the multiboot test kernel (testkernel/*.c): build it, parse what it prints
//	platform.go    a fake SmartOS platform directory whose unix is the test kernel
//	qemu.go        BIOS and UEFI PXE clients
//	serial.go      serial console text: strip terminal escapes, wait for and count patterns
//	peers.go       dnsmasq (the network's DHCP server), tftpd-hpa, busybox httpd
//	rackboot.go    build and run the rackboot binary under test
//
// Everything that sends DHCP or TFTP runs inside namespaces created by the
// test and deleted at cleanup; no host interface is ever touched. See
// README.md for how to run the tests and what each one proves.
package e2e

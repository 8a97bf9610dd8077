// Package packaging holds what installs rackboot as a system service, and
// the tests that check it with the tools each system's own checks use:
//
//	debian/    the systemd unit, the default configuration and the
//	           maintainer scripts of the Debian package (built by mkdeb)
//	smf/       the SMF manifest and start method (illumos, SmartOS)
//	freebsd/   the rc.d script (FreeBSD, pfSense)
package packaging

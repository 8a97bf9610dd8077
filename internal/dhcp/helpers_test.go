package dhcp

import (
	"net"
	"net/netip"

	"rackboot/internal/boot"
	"rackboot/internal/dhcp4"
	"rackboot/internal/pxe"
)

var (
	testMAC      = net.HardwareAddr{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}
	testServerIP = netip.MustParseAddr("10.250.0.1")
	testUUID     = []byte{0, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x01}
)

// testBootConfig is a boot.Config with Debian's iPXE builds present.
func testBootConfig() boot.Config {
	return boot.Config{
		ServerIP: testServerIP,
		HTTPBase: "http://10.250.0.1:8080",
		HasFile: func(name string) bool {
			return name == "undionly.kpxe" || name == "snponly.efi" || name == "ipxe.efi"
		},
	}
}

// reqOpt modifies a request under construction.
type reqOpt func(*dhcp4.Packet)

// newReq builds a client request of type mt.
func newReq(mt dhcp4.MessageType, opts ...reqOpt) *dhcp4.Packet {
	p := &dhcp4.Packet{
		Op: dhcp4.OpRequest, HType: 1, XID: 0x1234abcd, Secs: 4,
		CHAddr:  append(net.HardwareAddr(nil), testMAC...),
		Options: dhcp4.Options{dhcp4.OptMessageType: {byte(mt)}},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

// edk2 makes the request look like OVMF's PXE stack (TESTING.md: arch 7).
func edk2(p *dhcp4.Packet) {
	p.Options[dhcp4.OptVendorClass] = []byte("PXEClient:Arch:00007:UNDI:003000")
	p.Options[dhcp4.OptClientArch] = []byte{0, 7}
	p.Options[dhcp4.OptClientNDI] = []byte{1, 3, 0}
	p.Options[dhcp4.OptUUID] = testUUID
}

// ipxeBIOS makes the request look like QEMU's iPXE ROM: plain-string user
// class "iPXE" (not RFC 3004 encoded), option 175, arch 0.
func ipxeBIOS(p *dhcp4.Packet) {
	p.Options[dhcp4.OptVendorClass] = []byte("PXEClient:Arch:00000:UNDI:002001")
	p.Options[dhcp4.OptClientArch] = []byte{0, 0}
	p.Options[dhcp4.OptUserClass] = []byte("iPXE")
	p.Options[dhcp4.OptIPXE] = []byte{0xb1, 5, 1, 0x1a, 0xf4, 0x10, 0x00, 0xeb, 3, 1, 0, 0}
	p.Options[dhcp4.OptUUID] = testUUID
}

// httpBoot makes the request look like an EDK2 HTTP-boot client.
func httpBoot(p *dhcp4.Packet) {
	p.Options[dhcp4.OptVendorClass] = []byte("HTTPClient:Arch:00016:UNDI:003001")
	p.Options[dhcp4.OptClientArch] = []byte{0, 16}
}

// plainClient makes the request look like an ordinary OS DHCP client.
func plainClient(p *dhcp4.Packet) {
	p.Options[dhcp4.OptVendorClass] = []byte("dhcpcd-10.0.6:Linux-6.1.0:x86_64:GenuineIntel")
}

func withServerID(a netip.Addr) reqOpt {
	return func(p *dhcp4.Packet) { v := a.As4(); p.Options[dhcp4.OptServerID] = v[:] }
}

func withRequestedIP(a netip.Addr) reqOpt {
	return func(p *dhcp4.Packet) { v := a.As4(); p.Options[dhcp4.OptRequestedIP] = v[:] }
}

func withCIAddr(a netip.Addr) reqOpt { return func(p *dhcp4.Packet) { p.CIAddr = a } }

func withMAC(last byte) reqOpt {
	return func(p *dhcp4.Packet) { p.CHAddr = net.HardwareAddr{0x52, 0x54, 0x00, 0xab, 0xcd, last} }
}

func withXID(x uint32) reqOpt { return func(p *dhcp4.Packet) { p.XID = x } }

func withBroadcastFlag(p *dhcp4.Packet) { p.Flags |= dhcp4.FlagBroadcast }

func classify(p *dhcp4.Packet) pxe.Client { return pxe.Classify(RequestFrom(p)) }

// raw is p's header and magic cookie followed by opts as they are: options
// the codec would not write (malformed, overloaded).
func raw(p *dhcp4.Packet, opts ...byte) []byte {
	q := *p
	q.Options = dhcp4.Options{}
	b := q.Marshal()[:bootpHeaderLen+4]
	return append(b, opts...)
}

// bootpHeaderLen is the fixed BOOTP header, up to the magic cookie (RFC 951).
const bootpHeaderLen = 236

// overloadedFile is a DISCOVER whose options continue in its file field
// (option 52, RFC 2132 §9.3).
func overloadedFile(file []byte) []byte {
	b := raw(newReq(dhcp4.Discover), dhcp4.OptOverload, 1, 1, dhcp4.OptEnd)
	copy(b[108:236], file)
	return b
}

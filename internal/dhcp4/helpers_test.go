package dhcp4

import (
	"net"
	"net/netip"
)

var (
	testMAC  = net.HardwareAddr{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}
	testUUID = []byte{0, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x01}
)

// reqOpt modifies a request under construction.
type reqOpt func(*Packet)

// newReq builds a client request of type mt.
func newReq(mt MessageType, opts ...reqOpt) *Packet {
	p := &Packet{
		Op: OpRequest, HType: 1, XID: 0x1234abcd, Secs: 4,
		CHAddr:  append(net.HardwareAddr(nil), testMAC...),
		Options: Options{OptMessageType: {byte(mt)}},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

// edk2 makes the request look like OVMF's PXE stack (TESTING.md: arch 7).
func edk2(p *Packet) {
	p.Options[OptVendorClass] = []byte("PXEClient:Arch:00007:UNDI:003000")
	p.Options[OptClientArch] = []byte{0, 7}
	p.Options[OptClientNDI] = []byte{1, 3, 0}
	p.Options[OptUUID] = testUUID
}

// ipxeBIOS makes the request look like QEMU's iPXE ROM: plain-string user
// class "iPXE" (not RFC 3004 encoded), option 175, arch 0.
func ipxeBIOS(p *Packet) {
	p.Options[OptVendorClass] = []byte("PXEClient:Arch:00000:UNDI:002001")
	p.Options[OptClientArch] = []byte{0, 0}
	p.Options[OptUserClass] = []byte("iPXE")
	p.Options[OptIPXE] = []byte{0xb1, 5, 1, 0x1a, 0xf4, 0x10, 0x00, 0xeb, 3, 1, 0, 0}
	p.Options[OptUUID] = testUUID
}

func withServerID(a netip.Addr) reqOpt {
	return func(p *Packet) { v := a.As4(); p.Options[OptServerID] = v[:] }
}

func withRequestedIP(a netip.Addr) reqOpt {
	return func(p *Packet) { v := a.As4(); p.Options[OptRequestedIP] = v[:] }
}

func withCIAddr(a netip.Addr) reqOpt { return func(p *Packet) { p.CIAddr = a } }

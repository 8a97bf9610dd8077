//go:build !solaris

// dhcpv4 does not compile for illumos/Solaris; these tests use it as an
// independent implementation to check our codec against.

package dhcp

import (
	"bytes"
	"net"
	"net/netip"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// TestParseDHCPv4Encoded: packets encoded by dhcpv4 decode to what was put in.
func TestParseDHCPv4Encoded(t *testing.T) {
	q, err := dhcpv4.NewDiscovery(testMAC,
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00007:UNDI:003000")),
		dhcpv4.WithOption(dhcpv4.OptClientArch(iana.EFI_X86_64)),
		dhcpv4.WithOption(dhcpv4.OptUserClass("iPXE")),
		dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionClientMachineIdentifier, testUUID)),
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IPv4(10, 250, 0, 77))),
		dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.GenericOptionCode(OptIPXE), []byte{0xeb, 3, 1, 0, 0})),
	)
	if err != nil {
		t.Fatal(err)
	}
	q.GatewayIPAddr = net.IPv4(10, 250, 1, 1)
	q.SetBroadcast()
	p, err := Decode(q.ToBytes())
	if err != nil {
		t.Fatal(err)
	}
	if p.XID != uint32(q.TransactionID[0])<<24|uint32(q.TransactionID[1])<<16|uint32(q.TransactionID[2])<<8|uint32(q.TransactionID[3]) {
		t.Errorf("xid %08x, dhcpv4 wrote %v", p.XID, q.TransactionID)
	}
	if p.MessageType() != Discover || !p.Broadcast() || p.CHAddr.String() != testMAC.String() {
		t.Errorf("header: type %v broadcast %v chaddr %v", p.MessageType(), p.Broadcast(), p.CHAddr)
	}
	if p.GIAddr != netip.MustParseAddr("10.250.1.1") {
		t.Errorf("giaddr %v", p.GIAddr)
	}
	r := RequestFrom(p)
	if r.VendorClass != "PXEClient:Arch:00007:UNDI:003000" || len(r.ArchTypes) != 1 || r.ArchTypes[0] != 7 ||
		len(r.UserClasses) != 1 || r.UserClasses[0] != "iPXE" || !r.IPXEOptions || !bytes.Equal(r.UUID, testUUID) {
		t.Errorf("RequestFrom = %+v", r)
	}
	if got := ClientAddr(p); got != netip.MustParseAddr("10.250.0.77") {
		t.Errorf("ClientAddr = %v", got)
	}
}

// TestBuildReplyDecodedByDHCPv4: our replies decode with dhcpv4 to the
// fields a PXE client reads.
func TestBuildReplyDecodedByDHCPv4(t *testing.T) {
	req := newReq(Request, edk2, withCIAddr(netip.MustParseAddr("10.250.0.50")))
	d := testBootConfig().Decide(classify(req))
	reply, err := BuildReply(req, d, testServerIP)
	if err != nil {
		t.Fatal(err)
	}
	q, err := dhcpv4.FromBytes(reply.Marshal())
	if err != nil {
		t.Fatalf("dhcpv4 cannot decode our reply: %v", err)
	}
	checks := []struct {
		name      string
		got, want string
	}{
		{"op", q.OpCode.String(), "BootReply"},
		{"type", q.MessageType().String(), "ACK"},
		{"xid", q.TransactionID.String(), "0x1234abcd"},
		{"chaddr", q.ClientHWAddr.String(), testMAC.String()},
		{"ciaddr", q.ClientIPAddr.String(), "10.250.0.50"},
		{"yiaddr", q.YourIPAddr.String(), "0.0.0.0"},
		{"siaddr", q.ServerIPAddr.String(), "10.250.0.1"},
		{"server id", q.ServerIdentifier().String(), "10.250.0.1"},
		{"vendor class", q.ClassIdentifier(), "PXEClient"},
		{"file", q.BootFileName, "snponly.efi"},
		{"option 67", q.BootFileNameOption(), "snponly.efi"},
		{"sname", q.ServerHostName, ""},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if got := q.Options.Get(dhcpv4.OptionVendorSpecificInformation); !bytes.Equal(got, []byte{6, 1, 8, 255}) {
		t.Errorf("option 43 = %x, want 06 01 08 ff", got)
	}
	if got := q.Options.Get(dhcpv4.OptionClientMachineIdentifier); !bytes.Equal(got, testUUID) {
		t.Errorf("option 97 = %x, want the client's", got)
	}
}

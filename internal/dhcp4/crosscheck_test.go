//go:build !solaris

// dhcpv4 does not compile for illumos/Solaris; these tests use it as an
// independent implementation to check our codec against, in both
// directions.

package dhcp4

import (
	"bytes"
	"net"
	"net/netip"
	"reflect"
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
	p, err := Parse(q.ToBytes())
	if err != nil {
		t.Fatal(err)
	}
	if p.Op != OpRequest {
		t.Errorf("op %d, want BOOTREQUEST", p.Op)
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
	if got := string(p.Options.Get(OptVendorClass)); got != "PXEClient:Arch:00007:UNDI:003000" {
		t.Errorf("option 60 = %q", got)
	}
	if got := ArchTypes(p.Options.Get(OptClientArch)); !reflect.DeepEqual(got, []uint16{7}) {
		t.Errorf("option 93 = %v, want [7]", got)
	}
	if got := UserClasses(p.Options.Get(OptUserClass)); !reflect.DeepEqual(got, []string{"iPXE"}) {
		t.Errorf("option 77 = %q, want [iPXE]", got)
	}
	if !p.Options.Has(OptIPXE) || !bytes.Equal(p.Options.Get(OptUUID), testUUID) {
		t.Errorf("option 175 present %v, option 97 %x", p.Options.Has(OptIPXE), p.Options.Get(OptUUID))
	}
	if got := p.RequestedIP(); got != netip.MustParseAddr("10.250.0.77") {
		t.Errorf("option 50 = %v", got)
	}
}

// TestMarshalDecodedByDHCPv4: what we encode (here a proxyDHCP ACK as
// internal/dhcp builds it, and a boot file name too long for one option)
// decodes with dhcpv4 to the fields a PXE client reads.
func TestMarshalDecodedByDHCPv4(t *testing.T) {
	sid := []byte{10, 250, 0, 1}
	reply := &Packet{
		Op: OpReply, HType: 1, XID: 0x1234abcd, CHAddr: testMAC,
		CIAddr: netip.MustParseAddr("10.250.0.50"), YIAddr: netip.IPv4Unspecified(),
		SIAddr: netip.MustParseAddr("10.250.0.1"), File: "snponly.efi",
		Options: Options{
			OptMessageType:    {byte(Ack)},
			OptServerID:       sid,
			OptBootFile:       []byte("snponly.efi"),
			OptVendorClass:    []byte("PXEClient"),
			OptVendorSpecific: {6, 1, 8, OptEnd},
			OptUUID:           testUUID,
		},
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

	// RFC 3396: a 600-byte option 67 goes out in three parts; dhcpv4
	// joins them again.
	long := bytes.Repeat([]byte("u"), 600)
	reply.File, reply.Options[OptBootFile] = "", long
	if q, err = dhcpv4.FromBytes(reply.Marshal()); err != nil {
		t.Fatalf("dhcpv4 cannot decode a reply with a long option: %v", err)
	}
	if got := q.Options.Get(dhcpv4.OptionBootfileName); !bytes.Equal(got, long) {
		t.Errorf("option 67 decoded by dhcpv4 is %d bytes, want 600", len(got))
	}
}

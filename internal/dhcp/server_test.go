package dhcp

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	"rackboot/internal/boot"
	"rackboot/internal/dhcp4"
	"rackboot/internal/pxe"
)

// newTestServer is a ProxyServer with a recorder for events and logs.
func newTestServer(mode Mode) (*ProxyServer, *[]Event, *bytes.Buffer) {
	var events []Event
	var logs bytes.Buffer
	s := &ProxyServer{
		Config: Config{
			ServerIP:  testServerIP,
			Decide:    testBootConfig().Decide,
			Sightings: &boot.Sightings{},
			Logger:    slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
			OnEvent:   func(e Event) { events = append(events, e) },
		},
		Mode: mode,
	}
	return s, &events, &logs
}

// handle runs one packet through process and finish, as readLoop does,
// pretending the send succeeded.
func handle(s *ProxyServer, b []byte, src netip.AddrPort, port int) result {
	r := s.process(b, src, port, netip.Addr{})
	s.finish(r, nil)
	return r
}

func TestProcess(t *testing.T) {
	client := netip.MustParseAddr("10.250.0.50")
	other := netip.MustParseAddr("10.250.0.254") // the real DHCP server
	fromNoAddr := netip.MustParseAddrPort("0.0.0.0:68")
	fromClient := netip.AddrPortFrom(client, 68)
	tests := []struct {
		name       string
		mode       Mode
		pkt        []byte
		src        netip.AddrPort
		port       int
		want       Outcome
		wantReason string // substring
		wantFile   string
		wantDest   netip.AddrPort
	}{
		{name: "EDK2 DISCOVER on 67", pkt: newReq(dhcp4.Discover, edk2).Marshal(), src: fromNoAddr, port: 67,
			want: Answered, wantFile: "snponly.efi", wantDest: netip.MustParseAddrPort("255.255.255.255:68")},
		{name: "iPXE DISCOVER on 67", pkt: newReq(dhcp4.Discover, ipxeBIOS).Marshal(), src: fromNoAddr, port: 67,
			want: Answered, wantFile: "http://10.250.0.1:8080/boot.ipxe?mac=52:54:00:12:34:56&arch=bios"},
		{name: "ProxyDHCPREQUEST on 4011", pkt: newReq(dhcp4.Request, edk2, withCIAddr(client), withServerID(testServerIP)).Marshal(),
			src: fromClient, port: 4011, want: Answered, wantFile: "snponly.efi", wantDest: fromClient},
		{name: "DISCOVER on 4011 is answered too (dnsmasq does)", pkt: newReq(dhcp4.Discover, edk2, withCIAddr(client)).Marshal(),
			src: fromClient, port: 4011, want: Answered, wantDest: fromClient, wantFile: "snponly.efi"},
		{name: "REQUEST on 67 naming us", pkt: newReq(dhcp4.Request, ipxeBIOS, withServerID(testServerIP)).Marshal(),
			src: fromNoAddr, port: 67, want: Answered, wantFile: "http://10.250.0.1:8080/boot.ipxe?mac=52:54:00:12:34:56&arch=bios"},
		{name: "REQUEST on 67 for the real DHCP server", pkt: newReq(dhcp4.Request, edk2, withServerID(other), withRequestedIP(client)).Marshal(),
			src: fromNoAddr, port: 67, want: Ignored, wantReason: "for the DHCP server at 10.250.0.254"},
		{name: "REQUEST on 67 without server id", pkt: newReq(dhcp4.Request, edk2, withCIAddr(client)).Marshal(),
			src: fromClient, port: 67, want: Ignored, wantReason: "without server identifier"},
		{name: "ordinary client", pkt: newReq(dhcp4.Discover, plainClient).Marshal(), src: fromNoAddr, port: 67,
			want: Ignored, wantReason: "not a network-boot client"},
		{name: "INFORM", pkt: newReq(dhcp4.Inform, edk2, withCIAddr(client)).Marshal(), src: fromClient, port: 67,
			want: Ignored, wantReason: "not INFORM"},
		{name: "RELEASE", pkt: newReq(dhcp4.Release, edk2, withCIAddr(client)).Marshal(), src: fromClient, port: 67,
			want: Ignored, wantReason: "not RELEASE"},
		{name: "arm64 without a build", pkt: newReq(dhcp4.Discover, func(p *dhcp4.Packet) {
			p.Options[dhcp4.OptVendorClass] = []byte("PXEClient:Arch:00011:UNDI:003000")
			p.Options[dhcp4.OptClientArch] = []byte{0, 11}
		}).Marshal(), src: fromNoAddr, port: 67, want: Ignored, wantReason: "no iPXE build for efi-arm64"},
		{name: "listen-only mode", mode: ModeOff, pkt: newReq(dhcp4.Discover, edk2).Marshal(), src: fromNoAddr, port: 67,
			want: Ignored, wantReason: "listen-only"},
		{name: "a reply is not ours to answer", pkt: func() []byte {
			p := newReq(dhcp4.Offer, edk2)
			p.Op = dhcp4.OpReply
			return p.Marshal()
		}(), src: fromNoAddr, port: 67, want: Ignored, wantReason: "BOOTREQUEST"},
		{name: "garbage", pkt: []byte("GET / HTTP/1.0\r\n\r\n"), src: fromClient, port: 67,
			want: Malformed, wantReason: "malformed"},
		{name: "truncated option", pkt: raw(newReq(dhcp4.Discover), dhcp4.OptVendorClass, 40, 'P'), src: fromClient, port: 67,
			want: Malformed, wantReason: "runs past"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, events, _ := newTestServer(tt.mode)
			r := handle(s, tt.pkt, tt.src, tt.port)
			if r.ev.Outcome != tt.want {
				t.Fatalf("outcome %v (%s), want %v", r.ev.Outcome, r.ev.Reason, tt.want)
			}
			if !strings.Contains(r.ev.Reason, tt.wantReason) {
				t.Errorf("reason %q, want it to contain %q", r.ev.Reason, tt.wantReason)
			}
			if len(*events) != 1 || (*events)[0].Outcome != tt.want || (*events)[0].Port != tt.port {
				t.Errorf("events = %+v", *events)
			}
			st := s.Stats()
			if st.Received != 1 || st.Answered+st.Ignored+st.Malformed+st.SendErrors != 1 {
				t.Errorf("stats %+v", st)
			}
			if tt.want != Answered {
				if r.reply != nil {
					t.Error("reply built for an ignored packet")
				}
				return
			}
			if r.ev.BootFile != tt.wantFile {
				t.Errorf("boot file %q, want %q", r.ev.BootFile, tt.wantFile)
			}
			if tt.wantDest.IsValid() && r.dest != tt.wantDest {
				t.Errorf("dest %v, want %v", r.dest, tt.wantDest)
			}
			reply, err := dhcp4.Parse(r.reply)
			if err != nil || reply.Op != dhcp4.OpReply || reply.File != tt.wantFile {
				t.Errorf("reply %+v, %v", reply, err)
			}
		})
	}
}

func TestProcessRecordsSightings(t *testing.T) {
	for _, mode := range []Mode{ModeProxy, ModeOff} {
		t.Run(mode.String(), func(t *testing.T) {
			s, _, _ := newTestServer(mode)
			a := netip.MustParseAddr("10.250.0.60")
			// The PXE ROM's REQUEST to the real server, then iPXE's.
			handle(s, newReq(dhcp4.Request, edk2, withRequestedIP(a), withServerID(netip.MustParseAddr("10.250.0.254"))).Marshal(),
				netip.MustParseAddrPort("0.0.0.0:68"), 67)
			got, ok := s.Sightings.Lookup(a)
			if !ok || got.IPXE || got.Arch != pxe.ArchEFIx8664 || got.MAC.String() != testMAC.String() {
				t.Fatalf("after the ROM: %+v %v", got, ok)
			}
			handle(s, newReq(dhcp4.Request, ipxeBIOS, withRequestedIP(a)).Marshal(), netip.MustParseAddrPort("0.0.0.0:68"), 67)
			if got, _ := s.Sightings.Lookup(a); !got.IPXE || got.Arch != pxe.ArchBIOS {
				t.Errorf("after iPXE: %+v", got)
			}
			// An ordinary client at another address is not recorded.
			b := netip.MustParseAddr("10.250.0.61")
			handle(s, newReq(dhcp4.Request, plainClient, withRequestedIP(b)).Marshal(), netip.MustParseAddrPort("0.0.0.0:68"), 67)
			if _, ok := s.Sightings.Lookup(b); ok {
				t.Error("non-boot client recorded")
			}
		})
	}
}

func TestProcessNilSightingsAndHooks(t *testing.T) {
	s := &ProxyServer{Config: Config{ServerIP: testServerIP, Decide: testBootConfig().Decide}}
	r := handle(s, newReq(dhcp4.Request, ipxeBIOS, withRequestedIP(netip.MustParseAddr("10.250.0.5")), withServerID(testServerIP)).Marshal(),
		netip.MustParseAddrPort("0.0.0.0:68"), 67)
	if r.ev.Outcome != Answered {
		t.Errorf("outcome %v: %s", r.ev.Outcome, r.ev.Reason)
	}
}

func TestFinishSendError(t *testing.T) {
	s, events, logs := newTestServer(ModeProxy)
	r := s.process(newReq(dhcp4.Discover, edk2).Marshal(), netip.MustParseAddrPort("0.0.0.0:68"), 67, netip.Addr{})
	s.finish(r, errors.New("network is unreachable"))
	if st := s.Stats(); st.SendErrors != 1 || st.Answered != 0 {
		t.Errorf("stats %+v", st)
	}
	if (*events)[0].Outcome != SendError || !strings.Contains((*events)[0].Reason, "unreachable") {
		t.Errorf("event %+v", (*events)[0])
	}
	if !strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("send error not logged at warn:\n%s", logs.String())
	}
}

func TestLogging(t *testing.T) {
	s, _, logs := newTestServer(ModeProxy)
	handle(s, newReq(dhcp4.Discover, edk2).Marshal(), netip.MustParseAddrPort("0.0.0.0:68"), 67)
	handle(s, newReq(dhcp4.Discover, plainClient).Marshal(), netip.MustParseAddrPort("0.0.0.0:68"), 67)
	out := logs.String()
	for _, want := range []string{
		`level=INFO msg="proxyDHCP answer" mac=52:54:00:12:34:56 arch=efi-x86_64 ipxe=false type=DISCOVER file=snponly.efi port=67`,
		`level=DEBUG msg="proxyDHCP ignore" mac=52:54:00:12:34:56`,
		`reason="not a network-boot client`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

func TestServeValidates(t *testing.T) {
	tests := []struct {
		name string
		s    *ProxyServer
		want string
	}{
		{"no server IP", &ProxyServer{Config: Config{Decide: testBootConfig().Decide}}, "server IP"},
		{"IPv6 server IP", &ProxyServer{Config: Config{ServerIP: netip.MustParseAddr("fd00::1"), Decide: testBootConfig().Decide}}, "server IP"},
		{"no Decide", &ProxyServer{Config: Config{ServerIP: testServerIP}}, "Decide"},
		{"bad mode", &ProxyServer{Config: Config{ServerIP: testServerIP, Decide: testBootConfig().Decide}, Mode: 7}, "unknown mode"},
		{"no such interface", &ProxyServer{Config: Config{ServerIP: testServerIP, Decide: testBootConfig().Decide, Interface: "rb-no-such-if0"}}, `interface "rb-no-such-if0"`},
	}
	for _, tt := range tests {
		err := tt.s.Serve(context.Background())
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Serve = %v, want an error mentioning %q", tt.name, err, tt.want)
		}
	}
}

func TestModeString(t *testing.T) {
	if ModeProxy.String() != "proxy" || ModeOff.String() != "off" || Mode(9).String() != "unknown" {
		t.Error("Mode.String")
	}
}

func TestDirectedBroadcast(t *testing.T) {
	tests := map[string]string{
		"10.250.0.1/24":  "10.250.0.255",
		"192.168.7.9/22": "192.168.7.255",
		"172.16.0.1/12":  "172.31.255.255",
		"10.0.0.1/30":    "10.0.0.3",
	}
	for p, want := range tests {
		if got := directedBroadcast(netip.MustParsePrefix(p)); got.String() != want {
			t.Errorf("directedBroadcast(%s) = %v, want %s", p, got, want)
		}
	}
}

package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"rackboot/test/e2e"
)

// TestClusterFullDHCPNoDoubleLease: two rackboot servers, both the lab's
// DHCP server (dhcp.mode full, one subnet, one pool; no dnsmasq), each on
// its own host, leases in the 3-member etcd. The storm simulator (`rackboot
// bench storm`, 100 BIOS machines powered on within 3 s) broadcasts to both
// at once. Then every ACK both servers logged goes through
// e2e.FindDoubleLeases: no address may be ACKed to a client while another
// holds it. ACKs per server, NAKs and rackboot_lease_conflicts_total are
// printed.
func TestClusterFullDHCPNoDoubleLease(t *testing.T) {
	t.Parallel()
	e2e.RequireRoot(t)
	ctx := testContext(t, 3*time.Minute)
	l := newClusterLab(ctx, t)
	const leaseTime = 10 * time.Minute
	dataA, dataB := filepath.Join(l.Out, "data-a"), filepath.Join(l.Out, "data-b")
	e2e.MakePlatform(t, dataA, newBuild)
	if err := os.MkdirAll(dataB, 0o755); err != nil {
		t.Fatal(err)
	}
	subnets := []e2e.DHCPSubnet{{Subnet: l.Subnet, Pool: fmt.Sprintf("%s-%s", l.Addr(100), l.Addr(249))}}
	servers := map[string]*e2e.Rackboot{}
	for name, data := range map[string]string{"a": dataA, "b": dataB} {
		h := l.AddHost(t, "rb"+name, l.Addr(10+byte(name[0]-'a'+1)))
		cfg := configFor("")
		cfg.ServerName = name
		cfg.EtcdEndpoints = l.etcd.Endpoints()
		cfg.EtcdPrefix = "/rackboot/" + l.ID + "/"
		cfg.LeaseTime = leaseTime
		cfg.DHCPSubnets = subnets
		servers[name] = e2e.StartRackboot(ctx, t, l.Lab, e2e.RackbootOptions{Binary: l.bin, DHCPMode: "full", DataDir: data,
			Config: cfg, Host: h, Name: "rackboot-" + name})
	}
	waitFor(ctx, t, 30*time.Second, "A lists A and B alive", func() bool { return aliveServers(ctx, t, servers["a"]) == 2 })

	// The storm, from a client host on the bridge: its DISCOVERs and
	// REQUESTs are broadcasts both servers receive.
	client := l.AddDHCPClientHost(t, "storm")
	sctx, cancel := context.WithTimeout(ctx, 100*time.Second)
	defer cancel()
	argv := client.NS.Command(l.bin, "bench", "storm", "--interface", client.Iface, "-n", "100", "--spread", "3s",
		"--scale", "0.25", "--mac-prefix", "02:5c:00", "--timeout", "90s", "--output", "json", "--quiet")
	cmd := exec.CommandContext(sctx, argv[0], argv[1:]...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	out, err := cmd.Output()
	took := time.Since(start)
	var rep struct {
		Machines     int   `json:"machines"`
		Booted       int   `json:"booted"`
		Failed       int   `json:"failed"`
		DHCPSent     int64 `json:"dhcp_sent"`
		DHCPReceived int64 `json:"dhcp_received"`
		Stages       []struct {
			Name   string `json:"name"`
			Done   int    `json:"done"`
			Failed int    `json:"failed"`
		} `json:"stages"`
	}
	if jerr := json.Unmarshal(out, &rep); jerr != nil {
		t.Fatalf("rackboot bench storm: %v, report %v\n%s\n%s", err, jerr, out, stderr.String())
	}
	t.Logf("storm: %d machines in %s: %d booted, %d failed; DHCP %d sent, %d received; stages %+v (exit: %v)",
		rep.Machines, took.Round(10*time.Millisecond), rep.Booted, rep.Failed, rep.DHCPSent, rep.DHCPReceived, rep.Stages, err)
	for _, s := range rep.Stages {
		if s.Name == "dhcp" && s.Done < rep.Machines*9/10 {
			t.Errorf("only %d of %d machines got through DHCP", s.Done, rep.Machines)
		}
	}

	// Every ACK of both servers.
	var all []e2e.LeaseEvent
	var figures []string
	for _, name := range []string{"a", "b"} {
		rb := servers[name]
		f, err := os.Open(rb.Log)
		if err != nil {
			t.Fatal(err)
		}
		evs, naks, err := e2e.ParseLeaseLog(name, f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			t.Errorf("server %s ACKed nothing: the servers were not both answering", name)
		}
		all = append(all, evs...)
		macs := map[string]bool{}
		for _, e := range evs {
			macs[e.MAC] = true
		}
		conflicts := metricValue(ctx, t, rb, "rackboot_lease_conflicts_total")
		figures = append(figures, fmt.Sprintf("%s: %d ACKs to %d clients, %d NAKs, rackboot_lease_conflicts_total %v", name, len(evs), len(macs), naks, conflicts))
	}
	ips, macs := map[string]bool{}, map[string]bool{}
	for _, e := range all {
		ips[e.IP.String()], macs[e.MAC] = true, true
	}
	t.Logf("ACKs: %s; %d in all, %d clients, %d addresses", strings.Join(figures, "; "), len(all), len(macs), len(ips))
	if len(macs) < rep.Machines*9/10 {
		t.Errorf("ACKs to %d clients, want most of the %d machines", len(macs), rep.Machines)
	}
	doubles := e2e.FindDoubleLeases(all, leaseTime)
	for _, d := range doubles {
		t.Errorf("double lease: %s", d)
	}
	t.Logf("checker: %d ACKs and RELEASEs, %d double leases", len(all), len(doubles))
}

package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"rackboot/test/e2e"
)

// The parts of rackboot's API answers these tests read.
type machineJSON struct {
	MAC      string `json:"mac"`
	Arch     string `json:"arch"`
	LastIP   string `json:"last_ip"`
	BootOnce string `json:"boot_once"`
	Boots    []struct {
		Result string             `json:"result"`
		Item   string             `json:"item"`
		Kernel string             `json:"kernel"`
		Stages map[string]float64 `json:"stages_ms"`
	} `json:"boots"`
}

type eventJSON struct {
	Seq      uint64 `json:"seq"`
	Type     string `json:"type"`
	Stage    string `json:"stage"`
	Boot     int    `json:"boot"`
	Msg      string `json:"msg"`
	Item     string `json:"item"`
	BootOnce bool   `json:"boot_once"`
}

// bootStages is the order of the stages a boot goes through.
var bootStages = []string{"dhcp", "nbp", "ipxe-dhcp", "menu", "kernel", "archive", "booted-kernel", "up"}

// A BIOS QEMU's NIC ROM is iPXE already: it skips the PXE ROM stages.
var biosStages = []string{"ipxe-dhcp", "menu", "kernel", "archive", "booted-kernel"}

// getJSON reads an API answer from rackboot into v.
func getJSON(ctx context.Context, t *testing.T, rb *e2e.Rackboot, path string, v any) {
	t.Helper()
	code, body, err := rb.Get(ctx, path)
	if err != nil || code != 200 {
		t.Fatalf("GET %s: %d %v\n%s", path, code, err, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("GET %s: %v\n%s", path, err, body)
	}
}

// rackbootCLI runs the rackboot CLI inside the lab's server namespace,
// against the running server.
func rackbootCLI(ctx context.Context, t *testing.T, l *rackbootLab, args ...string) string {
	t.Helper()
	return cli(ctx, t, needRackboot(t), l.rb, args...) // targets_test.go; l.rb runs in l.Server
}

// stagesOf returns, per boot number, the stages its events reached, in
// event order, each once.
func stagesOf(evs []eventJSON) map[int][]string {
	out := map[int][]string{}
	for _, ev := range evs {
		if ev.Stage == "" || ev.Boot == 0 {
			continue
		}
		s := out[ev.Boot]
		if len(s) == 0 || s[len(s)-1] != ev.Stage {
			out[ev.Boot] = append(s, ev.Stage)
		}
	}
	return out
}

// checkStagesInOrder fails t unless got holds want in order and never goes
// back to an earlier stage.
func checkStagesInOrder(t *testing.T, boot int, got, want []string) {
	t.Helper()
	index := func(s string) int {
		for i, st := range bootStages {
			if st == s {
				return i
			}
		}
		return -1
	}
	for i := 1; i < len(got); i++ {
		if index(got[i]) < index(got[i-1]) {
			t.Errorf("boot %d: stage %s after %s (stages %v)", boot, got[i], got[i-1], got)
		}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("boot %d: stages %v, want %v", boot, got, want)
	}
}

// TestMachinesBootOnce: a boot-once "noimport" set through the CLI before
// the machine's first boot takes effect exactly once: the first QEMU boot's
// kernel gets noimport=true on its -B line, the second (same MAC) does not.
// Both boots are in the registry with every stage in order.
func TestMachinesBootOnce(t *testing.T) {
	t.Parallel() // VMs mostly wait (iPXE, DHCP): boots overlap well on 2 cores
	ctx := testContext(t, 2*bootTimeout)
	l := newRackbootLab(t, "proxy", plainDHCP, configFor(""))
	mac := e2e.RandomMAC()

	out := rackbootCLI(ctx, t, l, "machines", "boot-once", mac, "noimport")
	if !strings.Contains(out, "noimport") {
		t.Fatalf("boot-once answered %q", out)
	}
	var m machineJSON
	getJSON(ctx, t, l.rb, "/api/v1/machines/"+mac, &m)
	if m.BootOnce != "noimport" {
		t.Fatalf("registry has boot_once %q before the boot", m.BootOnce)
	}

	for i, wantNoImport := range []bool{true, false} {
		name := fmt.Sprintf("boot%d", i+1)
		vm := e2e.RunBIOS(ctx, t, l.Lab, l.AddTap(t), mac, filepath.Join(l.Out, name+".serial"))
		vm.Name = name
		vm.WaitBoot(ctx, t, e2e.KernelDone)
		r := checkSmartOSBoot(t, vm, smartOSBoot{fx: l.newest, password: rootPassword, bootArgs: bootArgs})
		_, args := e2e.KernelCmdlineArgs(r.Cmdline)
		if got := strings.Contains(args, "noimport=true"); got != wantNoImport {
			t.Errorf("%s: noimport=true on the -B line is %v, want %v: %s", name, got, wantNoImport, args)
		}
	}

	// The registry is written in batches: wait for both boots to land.
	deadline := time.Now().Add(10 * time.Second)
	for {
		m = machineJSON{} // absent fields must not keep the values of the read before
		getJSON(ctx, t, l.rb, "/api/v1/machines/"+mac, &m)
		if len(m.Boots) >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if m.BootOnce != "" || m.Arch != "bios" || m.LastIP == "" {
		t.Errorf("registry entry after two boots: %+v", m)
	}
	if len(m.Boots) != 2 {
		t.Fatalf("registry holds %d boots, want 2: %+v", len(m.Boots), m.Boots)
	}
	for i, b := range m.Boots {
		if b.Result != "booted kernel" || !strings.Contains(b.Kernel, newBuild) {
			t.Errorf("boot %d in the registry: %+v", i+1, b)
		}
	}
	if m.Boots[0].Item != "smartos-noimport" || m.Boots[1].Item == "smartos-noimport" {
		t.Errorf("menu items of the boots: %q then %q, want smartos-noimport then the default", m.Boots[0].Item, m.Boots[1].Item)
	}

	var evs []eventJSON
	getJSON(ctx, t, l.rb, "/api/v1/machines/"+mac+"/events", &evs)
	stages := stagesOf(evs)
	for boot := 1; boot <= 2; boot++ {
		t.Logf("boot %d stages: %v", boot, stages[boot])
		checkStagesInOrder(t, boot, stages[boot], biosStages)
	}
	once := 0
	for _, ev := range evs {
		if ev.Type == "menu" && ev.BootOnce {
			once++
		}
	}
	if once != 1 {
		t.Errorf("%d menus used the boot-once, want exactly 1", once)
	}
	rackbootCLI(ctx, t, l, "machines", "show", mac)

	// Prometheus saw the same two boots.
	code, metrics, err := l.rb.Get(ctx, "/metrics")
	if err != nil || code != 200 {
		t.Fatalf("GET /metrics: %d %v", code, err)
	}
	for _, want := range []string{
		`rackboot_boots_total{result="booted kernel"} 2`,
		`rackboot_boot_stage_duration_seconds_count{stage="menu"} 2`,
		`rackboot_http_requests_total{code="200",kind="archive"} 2`,
		`rackboot_http_requests_total{code="200",kind="menu"} 2`,
		`rackboot_dhcp_packets_total{outcome="answered",type="DISCOVER"}`,
		`rackboot_boots_in_progress 0`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

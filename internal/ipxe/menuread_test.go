package ipxe

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestReadMenuSeed(t *testing.T) {
	b, err := os.ReadFile("testdata/seed-bootstrap.ipxe")
	if err != nil {
		t.Fatal(err)
	}
	m := ReadMenu(b)
	if m.Title != "Welcome to iPXE's Boot Menu" || m.Default != "smartos" || m.Timeout != 30*time.Second || !m.HasTimeout {
		t.Errorf("menu: %+v", m)
	}
	if len(m.Items) != 8 {
		t.Fatalf("%d items, want 8", len(m.Items))
	}
	// The items' bodies are found by position: the script has no labels.
	for i, it := range m.Items[:5] {
		if !it.ByPosition || len(it.Body) == 0 || it.Body[0].Name != "kernel" {
			t.Fatalf("item %d %s: %+v", i, it.Label, it)
		}
	}
	if k := m.Items[3].Body[0].Positional[0]; k != "/smartos/20130405T010449Z/platform/i86pc/kernel/amd64/unix" {
		t.Errorf("item smartos_noimport2's kernel, expanded: %q", k)
	}
	if !strings.Contains(m.Items[1].Body[0].Positional[2], "noimport=true") {
		t.Errorf("item smartos_noimport: %+v", m.Items[1].Body[0])
	}
	if m.Items[0].Text != "Boot SmartOS (20130808T195337Z)" {
		t.Errorf("text: %q", m.Items[0].Text)
	}
}

func TestReadMenuLabels(t *testing.T) {
	m := ReadMenu([]byte("#!ipxe\nmenu M\nitem a A\nitem b B\nchoose x && goto ${x}\n:b\nchain http://h/b.ipxe\n:a\nkernel http://h/k\ninitrd http://h/i\nboot\n"))
	if len(m.Items) != 2 || m.Items[0].ByPosition || m.Items[0].Body[0].Name != "kernel" || m.Items[1].Body[0].Name != "chain" {
		t.Errorf("%+v", m.Items)
	}
}

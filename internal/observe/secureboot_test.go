package observe

import (
	"testing"

	"rackboot/internal/events"
)

func TestRefusedIPXE(t *testing.T) {
	tests := []struct {
		b    events.Boot
		want bool
	}{
		{events.Boot{Result: "abandoned", Stage: events.StageNBP, Arch: "efi-x86_64"}, true},
		{events.Boot{Result: "abandoned", Stage: events.StageNBP, Arch: "bios"}, false},        // no Secure Boot there
		{events.Boot{Result: "abandoned", Stage: events.StageMenu, Arch: "efi-x86_64"}, false}, // iPXE ran
		{events.Boot{Result: "booted kernel", Stage: events.StageNBP, Arch: "efi-x86_64"}, false},
	}
	for _, tt := range tests {
		if got := refusedIPXE(tt.b); got != tt.want {
			t.Errorf("%+v: %v", tt.b, got)
		}
	}
}

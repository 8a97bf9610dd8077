package bootargs

import (
	"reflect"
	"testing"
)

func TestMerge(t *testing.T) {
	base := []KV{{"hostname", "rack"}, {"admin_nic", "x"}}
	got := Merge(base, []KV{{"hostname", "cn1"}, {"zfs.arc_max", "1"}})
	want := []KV{{"hostname", "cn1"}, {"admin_nic", "x"}, {"zfs.arc_max", "1"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Merge = %v, want %v", got, want)
	}
	if base[0].Value != "rack" {
		t.Errorf("Merge changed its base: %v", base)
	}
	if got := Merge(base, nil); !reflect.DeepEqual(got, base) {
		t.Errorf("Merge with nothing = %v", got)
	}
}

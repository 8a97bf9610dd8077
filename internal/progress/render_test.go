package progress

import (
	"strings"
	"testing"
	"time"
)

func TestBar(t *testing.T) {
	dl := Update{Phase: "download", Name: "platform-20250101T000000Z.tgz", Bytes: 45 << 20, Total: 100 << 20,
		Rate: 5 << 20, ETA: 11 * time.Second}
	tests := []struct {
		name  string
		u     Update
		width int
		want  string
	}{
		{"wide", dl, 100,
			"download platform-20250101T000000Z.tgz [=====>       ]  45%  45.0 MiB/100.0 MiB  5.0 MiB/s  ETA 11s"},
		{"no room for the name", dl, 72,
			"download [======>        ]  45%  45.0 MiB/100.0 MiB  5.0 MiB/s  ETA 11s"},
		{"no room for a bar", dl, 50,
			"download  45%  45.0 MiB/100.0 MiB  5.0 MiB/s"},
		{"tiny", dl, 10, "download"},
		{"unknown size", Update{Phase: "unpack", Name: "p.tgz", Bytes: 3 << 20, Rate: 1 << 20}, 80,
			"unpack p.tgz 3.0 MiB  1.0 MiB/s"},
		{"done", Update{Phase: "verify", Name: "p.tgz", Bytes: 10 << 20, Total: 10 << 20, ETA: time.Second}, 60,
			"verify p.tgz [====================] 100%  10.0 MiB/10.0 MiB"},
		{"start", Update{Phase: "verify", Name: "p.tgz", Total: 10 << 20}, 50,
			"verify p.tgz [>              ]   0%  0 B/10.0 MiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Bar(tt.u, tt.width)
			if got != tt.want {
				t.Errorf("Bar(width %d) =\n%q\nwant\n%q", tt.width, got, tt.want)
			}
			if len(got) > tt.width-1 {
				t.Errorf("%d columns, more than width-1 = %d", len(got), tt.width-1)
			}
		})
	}
}

// Every width from 1 to 200 gives a line that fits, and a wider terminal
// never shows less.
func TestBarFitsEveryWidth(t *testing.T) {
	u := Update{Phase: "download", Name: strings.Repeat("x", 60) + ".tgz", Bytes: 1, Total: 3, Rate: 1, ETA: time.Hour}
	prev := 0
	for w := 1; w <= 200; w++ {
		got := Bar(u, w)
		if len(got) > max(w-1, 0) {
			t.Fatalf("width %d: %d columns: %q", w, len(got), got)
		}
		if len(got) < prev {
			t.Fatalf("width %d: shorter (%d) than at width %d (%d)", w, len(got), w-1, prev)
		}
		prev = len(got)
	}
}

func TestLine(t *testing.T) {
	u := Update{Phase: "download", Name: "p.tgz", Bytes: 12 << 20, Total: 27 << 20, Rate: 5 << 20, ETA: 3*time.Second + time.Millisecond}
	if got, want := Line(u), "download p.tgz: 12.0 MiB of 27.0 MiB (44%), 5.0 MiB/s, 4s left"; got != want {
		t.Errorf("Line = %q, want %q", got, want)
	}
	if got, want := Line(Update{Phase: "unpack", Bytes: 2048}), "unpack: 2.0 KiB"; got != want {
		t.Errorf("Line = %q, want %q", got, want)
	}
}

func TestUnits(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB",
		5 << 20: "5.0 MiB", 3 << 30: "3.0 GiB", 1 << 40: "1.0 TiB"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
	for d, want := range map[time.Duration]string{time.Millisecond: "1s", 59 * time.Second: "59s",
		65 * time.Second: "1m05s", 2*time.Hour + 10*time.Minute: "2h10m"} {
		if got := Duration(d); got != want {
			t.Errorf("Duration(%v) = %q, want %q", d, got, want)
		}
	}
}

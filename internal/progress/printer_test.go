package progress

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time                { return c.t }
func (c *fakeClock) add(d time.Duration)           { c.t = c.t.Add(d) }
func newClock() *fakeClock                         { return &fakeClock{t: time.Unix(1700000000, 0)} }
func (p *Printer) withClock(c *fakeClock) *Printer { p.now = c.now; return p }

// screen plays terminal output the way a terminal shows it: "\r" returns to
// the start of the line, ESC [ K erases to its end, "\n" starts a new line.
func screen(out string) []string {
	lines := []string{""}
	col := 0
	for i := 0; i < len(out); i++ {
		cur := &lines[len(lines)-1]
		switch {
		case out[i] == '\r':
			col = 0
		case out[i] == '\n':
			lines = append(lines, "")
			col = 0
		case strings.HasPrefix(out[i:], "\x1b[K"):
			*cur = (*cur)[:col]
			i += 2
		default:
			if col < len(*cur) {
				*cur = (*cur)[:col] + string(out[i]) + (*cur)[col+1:]
			} else {
				*cur += string(out[i])
			}
			col++
		}
	}
	return lines
}

func TestPrinterBar(t *testing.T) {
	var out bytes.Buffer
	clock := newClock()
	width := 70
	p := NewBar(&out, func() int { return width }).withClock(clock)
	total := int64(10 << 20)
	for i := int64(0); i <= 10; i++ {
		p.Update(Update{Phase: "download", Name: "p.tgz", Bytes: i << 20, Total: total})
		clock.add(time.Second)
		if i == 5 {
			width = 50 // the window shrinks
			p.Println("mirror has no checksum file")
		}
	}
	p.Update(Update{Phase: "verify", Name: "p.tgz", Bytes: total / 2, Total: total})
	clock.add(30 * time.Millisecond)
	p.Update(Update{Phase: "verify", Name: "p.tgz", Bytes: total/2 + 1, Total: total}) // too soon: not drawn
	p.End()
	got := screen(out.String())
	want := []string{
		"mirror has no checksum file",
		"download p.tgz 100%  10.0 MiB/10.0 MiB  1.0 MiB/s", // 50 columns: no room for a bar
		"verify p.tgz [=====>     ]  50%  5.0 MiB/10.0 MiB",
		"",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("screen:\n%s\nwant:\n%s\nraw: %q", strings.Join(got, "\n"), strings.Join(want, "\n"), out.String())
	}
	if !strings.Contains(out.String(), "\rdownload p.tgz [=====>    ]  50%  5.0 MiB/10.0 MiB  1.0 MiB/s  ETA 5s\x1b[K") {
		t.Error("no bar drawn at 70 columns")
	}
	if n := strings.Count(out.String(), "\r"); n < 10 {
		t.Errorf("%d redraws, want one per update at least a redraw interval apart", n)
	}
}

func TestPrinterLog(t *testing.T) {
	var out bytes.Buffer
	clock := newClock()
	p := NewLog(&out, 5*time.Second).withClock(clock)
	total := int64(20 << 20)
	for i := int64(0); i <= 20; i++ { // one MiB a second for 20 s
		p.Update(Update{Phase: "download", Name: "p.tgz", Bytes: i << 20, Total: total})
		clock.add(time.Second)
	}
	p.End()
	p.End() // no second line
	want := "download p.tgz: 0 B of 20.0 MiB (0%)\n" +
		"download p.tgz: 5.0 MiB of 20.0 MiB (25%), 1.0 MiB/s, 15s left\n" +
		"download p.tgz: 10.0 MiB of 20.0 MiB (50%), 1.0 MiB/s, 10s left\n" +
		"download p.tgz: 15.0 MiB of 20.0 MiB (75%), 1.0 MiB/s, 5s left\n" +
		"download p.tgz: 20.0 MiB of 20.0 MiB (100%), 1.0 MiB/s\n"
	if out.String() != want {
		t.Errorf("log:\n%s\nwant:\n%s", out.String(), want)
	}
	if strings.ContainsAny(out.String(), "\r\x1b") {
		t.Error("log output has terminal control characters")
	}
}

func TestNewPicksLogForFilesAndPipes(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if New(f).IsTerminal() {
		t.Error("a regular file taken for a terminal")
	}
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	if IsTerminal(null) {
		t.Error("/dev/null (a character device) taken for a terminal")
	}
	var b bytes.Buffer
	if New(&b).IsTerminal() {
		t.Error("a buffer taken for a terminal")
	}
}

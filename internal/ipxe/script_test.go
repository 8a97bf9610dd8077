package ipxe

import (
	"strings"
	"testing"
	"time"
)

func TestRenderStatements(t *testing.T) {
	tests := []struct {
		name string
		stmt Stmt
		want string
	}{
		{"comment", Comment("generated\nby rackboot"), "# generated\n# by rackboot"},
		{"blank", Blank{}, ""},
		{"label", Label("start"), ":start"},
		{"set", Set{Name: "base", Value: "http://10.0.0.1:8080"}, "set base http://10.0.0.1:8080"},
		{"set collapses spaces", Set{Name: "msg", Value: "a   b"}, "set msg a b"},
		{"set if unset", Set{Name: "menu-timeout", Value: "5000", IfUnset: true}, "isset ${menu-timeout} || set menu-timeout 5000"},
		{"menu", Menu{Title: "rackboot"}, "menu rackboot"},
		{"menu title with dashes", Menu{Title: "-- boot --"}, "menu -- -- boot --"},
		{"named menu", Menu{Name: "tools", Title: "Tools"}, "menu --name tools Tools"},
		{"item", Item{Label: "shell", Text: "iPXE shell"}, "item shell iPXE shell"},
		{"item text with dash", Item{Label: "x", Text: "- x -"}, "item x - x -"},
		{"item key default", Item{Label: "exit", Text: "Exit", Key: "x", IsDefault: true}, "item --key x --default exit Exit"},
		{"gap", Gap{Text: "---- Utilities ----"}, "item --gap -- ---- Utilities ----"},
		{"empty gap", Gap{}, "item --gap --"},
		{"choose", Choose{Setting: "target", Default: "exit", Timeout: 3 * time.Second, OnCancel: "shell"},
			"choose --default exit --timeout 3000 target || goto shell"},
		{"choose timeout setting", Choose{Setting: "target", TimeoutSetting: "menu-timeout", Keep: true},
			"choose --timeout ${menu-timeout} --keep target"},
		{"kernel", Kernel("http://h/unix", "-B", "console=text,root_shadow='$5$ab$cd'").OrGoto("failed"),
			"kernel http://h/unix -B console=text,root_shadow='$5$ab$cd' || goto failed"},
		{"module", Module("http://h/a", "type=rootfs", "name=ramdisk"), "module http://h/a type=rootfs name=ramdisk"},
		{"initrd", Initrd("http://h/i"), "initrd http://h/i"},
		{"chain", Chain("--replace", "--autofree", "http://h/m"), "chain --replace --autofree http://h/m"},
		{"boot", Boot().OrGoto("failed"), "boot || goto failed"},
		{"goto dynamic", Goto("${target}"), "goto ${target}"},
		{"echo", Echo("Type 'exit'  to return"), "echo Type 'exit' to return"},
		{"echo dash", Echo("-n is literal"), "echo -- -n is literal"},
		{"prompt", Prompt(10*time.Second, "Press a key"), "prompt --timeout 10000 Press a key"},
		{"sleep rounds up", Sleep(1500 * time.Millisecond), "sleep 2"},
		{"simple commands", Raw("shell"), "shell"},
		{"exit", Exit(), "exit"},
		{"reboot", Reboot(), "reboot"},
		{"imgfree", Imgfree(), "imgfree"},
		{"clear", Clear("x"), "clear x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.stmt.render()
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			if got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestRenderRefusesWhatIPXEWouldMisread(t *testing.T) {
	tests := []struct {
		name string
		stmt Stmt
		want string // part of the error
	}{
		{"space in url", Kernel("http://h/a b"), "whitespace"},
		{"comment word", Echo("build #5"), "comment"},
		{"operator in text", Item{Label: "a", Text: "this && that"}, "separator"},
		{"glued operator", Kernel("http://h/k", "&&;"), "separator"},
		{"expansion in label", Label("${x}"), "expanded"},
		{"label with dash", Label("-x"), "must not start"},
		{"newline in raw", Raw("a\nb"), "control"},
		{"empty set", Set{Name: "x"}, "Clear"},
		{"bad setting name", Set{Name: "a b", Value: "1"}, "not allowed"},
		{"two timeouts", Choose{Setting: "t", Timeout: time.Second, TimeoutSetting: "x"}, "not both"},
		{"option value with dash", Choose{Setting: "t", Default: "-x"}, "starting with '-'"},
		{"bad failure label", Boot().OrGoto("a b"), "whitespace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.stmt.render()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
			s := New(tt.stmt)
			if s.Validate() == nil {
				t.Error("Validate accepted the script")
			}
			out := string(s.Render())
			if !strings.HasPrefix(out, "#!ipxe\n# invalid statement left out: ") {
				t.Errorf("Render wrote %q", out)
			}
			if len(Lint(s.Render())) != 0 {
				t.Errorf("the left-out statement still lints: %v", Lint(s.Render()))
			}
		})
	}
}

func TestScriptRenderIsLintClean(t *testing.T) {
	s := New(
		Set{Name: "menu-timeout", Value: "5000", IfUnset: true},
		Label("start"),
		Menu{Title: "Test"},
		Item{Label: "linux", Text: "Linux"},
		Item{Label: "shell", Text: "Shell"},
		Choose{Setting: "target", Default: "linux", TimeoutSetting: "menu-timeout", OnCancel: "shell"},
		Goto("${target}"),
		Label("linux"),
		Kernel("http://h/vmlinuz", "console=ttyS0").OrGoto("shell"),
		Initrd("http://h/initrd").OrGoto("shell"),
		Boot().OrGoto("shell"),
		Label("shell"),
		Shell(),
		Goto("start"),
	)
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	out := s.Render()
	if !strings.HasPrefix(string(out), "#!ipxe\n") || !strings.HasSuffix(string(out), "goto start\n") {
		t.Errorf("unexpected framing:\n%s", out)
	}
	if p := Lint(out); len(p) != 0 {
		t.Errorf("lint problems: %v\n%s", p, out)
	}
	if got := len(s.Stmts()); got != 14 {
		t.Errorf("Stmts() has %d statements", got)
	}
}

func TestMillis(t *testing.T) {
	for d, want := range map[time.Duration]int64{
		0: 0, time.Microsecond: 1, 1500 * time.Microsecond: 1, 3 * time.Second: 3000,
	} {
		if got := Millis(d); got != want {
			t.Errorf("Millis(%v) = %d, want %d", d, got, want)
		}
	}
}

func TestMultibootCmdlineLen(t *testing.T) {
	k := Kernel("http://h/unix", "-B", "smartos=true") // 13+1+2+1+12+1 = 30
	m := Module("http://h/ba", "type=rootfs")          // 11+1+11+1 = 24
	if got := MultibootCmdlineLen(k, m, Module("http://h/x")); got != 30+24+11 {
		t.Errorf("got %d", got)
	}
}

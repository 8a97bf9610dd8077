package ipxe

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// rules returns "line:rule" for each problem, for compact comparisons.
func rules(ps []Problem) []string {
	var out []string
	for _, p := range ps {
		out = append(out, strconv.Itoa(p.Line)+":"+p.Rule)
	}
	return out
}

func TestLintRules(t *testing.T) {
	tests := []struct {
		name   string
		script string
		want   []string // "line:rule", in order
	}{
		{"clean", "#!ipxe\n:start\necho hi\ngoto start\n", nil},
		{"gpxe magic and CRLF", "#!gpxe\r\n:a\r\ngoto a\r\n", nil},
		{"no magic", "echo hi\n", []string{"1:magic"}},
		{"magic needs a separator", "#!ipxeecho\n", []string{"1:magic"}},
		{"goto missing label", "#!ipxe\ngoto nowhere\n", []string{"2:goto-target"}},
		{"goto arg count", "#!ipxe\n:a\ngoto a b\n", []string{"3:arg-count"}},
		{"duplicate label", "#!ipxe\n:a\n:a\ngoto a\n", []string{"3:duplicate-label"}},
		{"label with command", "#!ipxe\n:a echo x\ngoto a\n", nil},
		{"choose default not an item",
			"#!ipxe\nmenu\nitem a A\nchoose --default b t && goto ${t}\n:a\n",
			[]string{"4:choose-default"}},
		{"choose default in named menu",
			"#!ipxe\nmenu --name m\nitem --menu m a A\nchoose --menu m --default=a t && goto ${t}\n:a\n", nil},
		{"item without label",
			"#!ipxe\nmenu\nitem a A\nitem --gap -- text\nitem b B\nchoose t && goto ${t}\n:a\n",
			[]string{"5:item-label"}},
		{"items dispatched by iseq need no label",
			"#!ipxe\nmenu\nitem a A\nchoose t\niseq ${t} a && goto x ||\n:x\n", nil},
		{"items without dynamic goto",
			"#!ipxe\nmenu\nitem ubuntu U\nchoose os && chain http://h/${os}.ipxe\n", nil},
		{"glued operator", "#!ipxe\nmenu\nitem a A\nchoose t &&; goto ${t}\n:a\n",
			[]string{"4:glued-operator", "4:arg-count"}},
		{"undefined setting", "#!ipxe\necho ${nope} ${nope}\n", []string{"2:undefined-setting"}},
		{"set below use is fine", "#!ipxe\n:a\necho ${x}\nset x 1\ngoto a\n", nil},
		{"builtins, scoped, typed, numeric",
			"#!ipxe\necho ${mac} ${net0/mac} ${buildarch} ${12} ${space:string} ${smbios/uuid}\nset space:hex 20\n", nil},
		{"nested expansion", "#!ipxe\nset i 0\necho ${net${i}/mac}\n", nil},
		{"isset argument is exempt", "#!ipxe\nisset ${t} || set t 5\n", nil},
		{"empty set", "#!ipxe\nset x\necho ${x}\n", []string{"2:empty-set", "3:undefined-setting"}},
		{"prompt --set defines", "#!ipxe\nprompt --set k Press\necho ${k}\n", nil},
		{"comment hides words", "#!ipxe\necho a # goto nowhere\n", nil},
		{"hash inside word is text", "#!ipxe\necho a#b\n", nil},
		{"continuation", "#!ipxe\nkernel http://h/k \\\n  a=b\ngoto x\n", []string{"4:goto-target"}},
		{"unreachable after goto",
			"#!ipxe\n:a\ngoto a\necho never\necho still never\n:b\necho ok\ngoto a\n",
			[]string{"4:unreachable"}},
		{"conditional goto keeps flow", "#!ipxe\n:a\nboot || goto a\necho reached\n", nil},
		{"long line", "#!ipxe\necho " + strings.Repeat("x", MaxLineLen) + "\n", []string{"2:line-length"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := rules(Lint([]byte(tt.script)))
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("got  %v\nwant %v\nproblems: %v", got, tt.want, Lint([]byte(tt.script)))
			}
		})
	}
}

func TestLintMultiboot(t *testing.T) {
	long := "http://boot.example.internal.very-long-domain-name.example.com:8080/smartos/20240101T000000Z/platform/i86pc"
	script := func(base string) string {
		return "#!ipxe\nset base " + base + "\n:x\n" +
			"kernel ${base}/kernel/amd64/unix -B console=text,root_shadow='$5$0123456789abcdef$0123456789012345678901234567890123456789012',smartos=true,noimport=true\n" +
			"module ${base}/amd64/boot_archive type=rootfs name=ramdisk\n" +
			"module ${base}/amd64/boot_archive.hash type=hash name=ramdisk\n" +
			"boot\n"
	}
	if got := rules(Lint([]byte(script(long)))); strings.Join(got, " ") != "4:multiboot-cmdline" {
		t.Errorf("long base URL: got %v", got)
	}
	if got := Lint([]byte(script("http://10.0.0.1:8080/smartos/20240101T000000Z/platform/i86pc"))); len(got) != 0 {
		t.Errorf("short base URL: got %v", got)
	}
	// A setting with several values counts with its longest: here the
	// short base fits, but a menu could also pick the long one.
	both := strings.Replace(script(long), "set base "+long, "set base http://10.0.0.1:8080/smartos/20240101T000000Z/platform/i86pc\n"+
		"iseq ${buildarch} i386 && set base "+long+" ||", 1)
	if got := rules(Lint([]byte(both))); strings.Join(got, " ") != "5:multiboot-cmdline" {
		t.Errorf("several values: got %v", Lint([]byte(both)))
	}
	// A base URL known only at boot time cannot be judged.
	unknown := strings.Replace(script(long), "set base "+long, "set base http://${next-server}/"+long[7:], 1)
	if got := Lint([]byte(unknown)); len(got) != 0 {
		t.Errorf("unresolvable: got %v", got)
	}
}

// The user's hand-written menu from the blog post: it has no #!ipxe line,
// no labels for its items or for "goto start", a "&&;" that makes choose
// fail, and "set remote-root" with no value.
func TestLintSeedBootstrap(t *testing.T) {
	b, err := os.ReadFile("testdata/seed-bootstrap.ipxe")
	if err != nil {
		t.Fatal(err)
	}
	ps := Lint(b)
	count := map[string]int{}
	for _, p := range ps {
		count[p.Rule]++
		if p.Line <= 0 || p.Message == "" || !strings.Contains(p.String(), p.Rule) {
			t.Errorf("badly formed problem %+v", p)
		}
	}
	want := map[string]int{
		RuleMagic: 1, RuleEmptySet: 1, RuleItemLabel: 8, RuleGluedOperator: 1,
		RuleArgCount: 1, RuleGotoTarget: 6, RuleUndefined: 1, RuleUnreachable: 1,
	}
	for rule, n := range want {
		if count[rule] != n {
			t.Errorf("%s: %d problems, want %d", rule, count[rule], n)
		}
	}
	if len(ps) != 20 {
		for _, p := range ps {
			t.Log(p)
		}
		t.Errorf("%d problems, want 20", len(ps))
	}
}

func TestExpansions(t *testing.T) {
	tests := map[string][]string{
		"plain":              nil,
		"$5$salt$hash":       nil, // '$' without '{' is literal
		"${a}-${b}":          {"a", "b"},
		"${net${i}/mac}":     {"i", "netX/mac"},
		"}${a}":              {"a"},
		"${unterminated":     nil,
		"${root_shadow:hex}": {"root_shadow:hex"},
	}
	for in, want := range tests {
		if got := expansions(in); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("expansions(%q) = %q, want %q", in, got, want)
		}
	}
}

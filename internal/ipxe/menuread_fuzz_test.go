package ipxe

import (
	"os"
	"strings"
	"testing"
)

// FuzzReadMenu: ReadMenu and Lint read any file an operator points
// rackboot ipxe import or lint at; they never panic, and what they return
// refers to the script's own lines.
func FuzzReadMenu(f *testing.F) {
	if b, err := os.ReadFile("testdata/seed-bootstrap.ipxe"); err == nil {
		f.Add(b)
	}
	for _, s := range []string{
		"#!ipxe\nmenu M\nitem a A\nitem b B\nchoose x && goto ${x}\n:b\nchain http://h/b.ipxe\n:a\nkernel http://h/k\ninitrd http://h/i\nboot\n",
		"#!ipxe\nset a ${a}${a}\nitem x ${a\nchoose --timeout 99999999999999999999 --default\n",
		"item --gap\nitem\nchoose\n:\n:\nset\nset x\n${}\n",
		"#!ipxe\r\nitem a \\\nA\r\nchoose a || goto a\n:a || :a\nkernel --name \"\" 'x\n",
		"choose\nkernel\n\n\nboot\nitem a\nitem b\nitem shell\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m := ReadMenu(b)
		lines := strings.Count(string(b), "\n") + 1
		for _, p := range Lint(b) {
			if p.Line < 0 || p.Line > lines || p.Rule == "" {
				t.Fatalf("lint problem %+v of a %d-line script", p, lines)
			}
		}
		if m.ChooseLine < 0 || m.ChooseLine > lines {
			t.Fatalf("choose at line %d of %d", m.ChooseLine, lines)
		}
		for _, it := range m.Items {
			if it.Label == "" || it.Line < 1 || it.Line > lines {
				t.Fatalf("item %+v of a %d-line script", it, lines)
			}
			for _, a := range it.Body {
				if a.Name == "" || a.Line < 1 || a.Line > lines {
					t.Fatalf("action %+v of a %d-line script", a, lines)
				}
			}
		}
	})
}

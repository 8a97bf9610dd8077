package ipxe

import (
	"strings"
	"testing"
)

func TestIfEq(t *testing.T) {
	s := New(
		Set{Name: "console", Value: "text"},
		Label("menu"),
		IfEq{A: "${console}", B: "text", Then: []Stmt{Set{Name: "console", Value: "ttya"}, Goto("menu")}},
		IfEq{A: "${console}", B: "ttya", Then: []Stmt{Gap{Text: "serial console"}, Clear("x")}},
		IsEq("${console}", "ttya").OrGoto("menu"),
		Exit(),
	)
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	want := "#!ipxe\nset console text\n:menu\n" +
		"iseq ${console} text && set console ttya && goto menu ||\n" +
		"iseq ${console} ttya && item --gap -- serial console && clear x ||\n" +
		"iseq ${console} ttya || goto menu\nexit\n"
	if got := string(s.Render()); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if ps := Lint(s.Render()); len(ps) != 0 {
		t.Errorf("lint: %v", ps)
	}
	for _, bad := range []IfEq{
		{A: "${x}", B: "y"},
		{A: "a b", B: "y", Then: []Stmt{Exit()}},
		{A: "${x}", B: "y", Then: []Stmt{Boot().OrGoto("failed")}},
		{A: "${x}", B: "y", Then: []Stmt{Set{Name: "x", Value: "1", IfUnset: true}}},
		{A: "${x}", B: "y", Then: []Stmt{Label("l")}},
	} {
		if _, err := bad.render(); err == nil {
			t.Errorf("%+v rendered", bad)
		} else if !strings.Contains(err.Error(), "iseq") && !strings.Contains(err.Error(), "whitespace") {
			t.Errorf("%+v: %v", bad, err)
		}
	}
}

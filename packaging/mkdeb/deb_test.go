package main

import "testing"

func TestDebianVersion(t *testing.T) {
	for _, c := range []struct{ describe, date, want string }{
		{"v1.2.0", "", "1.2.0"},
		{"1.2.0", "", "1.2.0"},
		{"v1.2.0-rc1", "", "1.2.0~rc1"},
		{"v1.2.0-3-gabc1234", "", "1.2.0+git3.gabc1234"},
		{"v1.2.0-3-gabc1234-dirty", "", "1.2.0+git3.gabc1234+dirty"},
		{"876d8db", "2026-12-06T07:49:25Z", "0.0~git20261206.074925.876d8db"},
		{"876d8db-dirty", "2026-12-06T07:49:25Z", "0.0~git20261206.074925.876d8db+dirty"},
	} {
		got, err := debianVersion(c.describe, c.date)
		if err != nil || got != c.want {
			t.Errorf("debianVersion(%q) = %q, %v; want %q", c.describe, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "dev", "v1.2.0; rm -rf /", "release 1"} {
		if got, err := debianVersion(bad, ""); err == nil {
			t.Errorf("debianVersion(%q) = %q, want an error", bad, got)
		}
	}
}

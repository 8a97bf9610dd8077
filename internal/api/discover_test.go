package api

import (
	"net"
	"testing"
)

func TestLocalURL(t *testing.T) {
	for addr, want := range map[string]string{
		"0.0.0.0:8080": "http://127.0.0.1:8080", "[::]:80": "http://[::1]:80", "10.0.0.5:80": "http://10.0.0.5:80",
	} {
		a, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := LocalURL(a); got != want {
			t.Errorf("LocalURL(%s) = %s, want %s", addr, got, want)
		}
	}
}

package smartos

import (
	"bytes"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/GehirnInc/crypt/sha256_crypt"
)

func TestHashPasswordVerifies(t *testing.T) {
	h, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if err := ValidShadow(h); err != nil {
		t.Errorf("ValidShadow(%s): %v", h, err)
	}
	if !strings.HasPrefix(h, "$5$") || len(h) != 3+16+1+43 {
		t.Errorf("unexpected shape %q", h)
	}
	c := sha256_crypt.New()
	if err := c.Verify(h, []byte("correct horse")); err != nil {
		t.Errorf("the crypt library does not verify the hash: %v", err)
	}
	if c.Verify(h, []byte("wrong")) == nil {
		t.Error("a wrong password verifies")
	}
	h2, _ := HashPassword("correct horse")
	if h == h2 {
		t.Error("two hashes share a salt")
	}
}

func TestHashPasswordWithSalt(t *testing.T) {
	// Known answer, the same from glibc's crypt(3) and from
	// "openssl passwd -5 -salt saltstring 'Hello world!'".
	got, err := HashPasswordWithSalt("Hello world!", "saltstring")
	if err != nil {
		t.Fatal(err)
	}
	if want := "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	for _, salt := range []string{"", "has space", "this-salt-is-far-too-long", "bad$"} {
		if _, err := HashPasswordWithSalt("pw", salt); err == nil {
			t.Errorf("salt %q accepted", salt)
		}
	}
	if _, err := HashPasswordWithSalt("", "salt"); err == nil {
		t.Error("empty password accepted")
	}
}

func TestRandomSalt(t *testing.T) {
	s, err := randomSalt(bytes.NewReader([]byte{0, 1, 63, 64, 255, 11, 12, 37, 38, 2, 3, 4, 5, 6, 7, 8}))
	if err != nil {
		t.Fatal(err)
	}
	if s != "./z.z9AZa0123456" {
		t.Errorf("got %q", s)
	}
	if _, err := randomSalt(iotest.ErrReader(iotest.ErrTimeout)); err == nil {
		t.Error("reader error ignored")
	}
}

func TestValidShadow(t *testing.T) {
	good := []string{
		seedShadow,
		"$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA",
		"$6$rounds=5000$usesomesillystri$D4IrlXatmP7rx3P3InaxBeoomnAihCKRVQP22JZ6EY47Wc6BkroIuUUBOov1i.S5KPgErtP/EN5mcO.ChWQW21",
		"$1$saltsalt$qjXMvbEw8oaL.CzflDugX/",
	}
	for _, s := range good {
		if err := ValidShadow(s); err != nil {
			t.Errorf("ValidShadow(%s): %v", s, err)
		}
	}
	bad := []string{"", "secret", "$2a$10$abc", "$5$salt", "$5$salt$short", "$5$sa lt$" + strings.Repeat("a", 43),
		"$5$salt$" + strings.Repeat("a", 42) + ",", "$6$salt$" + strings.Repeat("a", 43), "$5$" + strings.Repeat("s", 17) + "$" + strings.Repeat("a", 43)}
	for _, s := range bad {
		if err := ValidShadow(s); err == nil {
			t.Errorf("ValidShadow(%q) accepted", s)
		}
	}
}

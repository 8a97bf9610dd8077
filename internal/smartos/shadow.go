package smartos

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/GehirnInc/crypt/sha256_crypt"
)

// saltAlphabet is crypt(3)'s: the characters a salt and a hash are written in.
const saltAlphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// saltLen is the longest salt SHA-256-crypt uses (Drepper's SHA-crypt spec).
const saltLen = 16

// HashPassword returns the SHA-256-crypt hash of pw ("$5$<salt>$<hash>")
// with a random 16-character salt, for SmartOS's root_shadow boot argument.
// SHA-256-crypt, not SHA-512, because it is what SmartOS documents and what
// its own menus use, and it keeps the kernel line short.
func HashPassword(pw string) (string, error) {
	salt, err := randomSalt(rand.Reader)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return HashPasswordWithSalt(pw, salt)
}

// HashPasswordWithSalt is HashPassword with a given salt of 1 to 16
// characters of [./0-9A-Za-z]: the same inputs always give the same hash.
func HashPasswordWithSalt(pw, salt string) (string, error) {
	if pw == "" {
		return "", errors.New("hash password: the password is empty")
	}
	if len(salt) == 0 || len(salt) > saltLen || strings.Trim(salt, saltAlphabet) != "" {
		return "", fmt.Errorf("hash password: salt %q: want 1 to %d characters of [./0-9A-Za-z]", salt, saltLen)
	}
	h, err := sha256_crypt.New().Generate([]byte(pw), []byte(sha256_crypt.MagicPrefix+salt))
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return h, nil
}

// randomSalt draws saltLen characters from r. The alphabet has 64
// characters, so the low 6 bits of a random byte pick one without bias.
func randomSalt(r io.Reader) (string, error) {
	b := make([]byte, saltLen)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", err
	}
	for i := range b {
		b[i] = saltAlphabet[b[i]&63]
	}
	return string(b), nil
}

// shadowShapes are the crypt(3) schemes illumos accepts in root_shadow:
// MD5-crypt ($1$, 22-char hash, salt up to 8), SHA-256-crypt ($5$, 43) and
// SHA-512-crypt ($6$, 86), the SHA ones with an optional rounds=N.
var shadowShapes = map[string]*regexp.Regexp{
	"1": regexp.MustCompile(`^\$1\$[./0-9A-Za-z]{1,8}\$[./0-9A-Za-z]{22}$`),
	"5": regexp.MustCompile(`^\$5\$(rounds=[0-9]{1,9}\$)?[./0-9A-Za-z]{1,16}\$[./0-9A-Za-z]{43}$`),
	"6": regexp.MustCompile(`^\$6\$(rounds=[0-9]{1,9}\$)?[./0-9A-Za-z]{1,16}\$[./0-9A-Za-z]{86}$`),
}

// ValidShadow checks that s has the shape of a $1$, $5$ or $6$ crypt(3)
// hash. It cannot tell whether the hash is of the password you mean.
func ValidShadow(s string) error {
	id, _, _ := strings.Cut(strings.TrimPrefix(s, "$"), "$")
	re, ok := shadowShapes[id]
	if !strings.HasPrefix(s, "$") || !ok {
		return fmt.Errorf("%q is not a crypt(3) hash: want $5$<salt>$<hash> (SHA-256), $6$ (SHA-512) or $1$ (MD5); set root_password instead, or make one with 'openssl passwd -5'", s)
	}
	if !re.MatchString(s) {
		return fmt.Errorf("%q starts like a $%s$ hash but its salt or hash part has the wrong length or characters", s, id)
	}
	return nil
}

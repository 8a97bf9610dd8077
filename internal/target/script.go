package target

import (
	"fmt"
	"os"
	"strings"

	"gopkg.in/yaml.v3"

	"rackboot/internal/ipxe"
)

func init() {
	register(Kind{Name: "ipxe", Firmware: "BIOS, UEFI",
		Doc:    "an iPXE script of the operator's, linted at start and chained: {file}",
		Decode: decodeScript})
}

// Script is an operator's own iPXE script, served as it is and chained
// from the menu. It is linted when the configuration is loaded: a script
// with problems (a goto to no label, a "&&;") is refused at start, not
// found out at boot time in front of a machine.
type Script struct {
	Header
	File File
}

type scriptSpec struct {
	File string `yaml:"file"`
}

func decodeScript(h Header, body *yaml.Node, dataDir string) (Target, error) {
	var s scriptSpec
	if err := decodeStrict(body, &s); err != nil {
		return nil, err
	}
	p, err := localFile(s.File, dataDir)
	if err != nil {
		return nil, err
	}
	text, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	if ps := ipxe.Lint(text); len(ps) > 0 {
		var b strings.Builder
		for _, pr := range ps {
			fmt.Fprintf(&b, "\n  %s:%d: %s: %s", p, pr.Line, pr.Rule, pr.Message)
		}
		return nil, fmt.Errorf("%s has %d lint problems (rackboot ipxe lint %s):%s", p, len(ps), p, b.String())
	}
	return &Script{Header: h, File: File{Name: servedName(h.ID, p), Path: p}}, nil
}

func (t *Script) ID() string    { return t.Header.ID }
func (t *Script) Title() string { return t.Header.Title }

func (t *Script) Offered(c Client) error {
	if c.SecureBoot {
		return errNotOffered("needs iPXE, which Secure Boot refuses unless it is signed")
	}
	return nil
}

func (t *Script) IPXE(l Loader, _ Client) []ipxe.Stmt {
	return append([]ipxe.Stmt{ipxe.Echo("Running " + t.Title()),
		ipxe.Command{Name: "chain", Args: []string{"--autofree", l.URL(t.File.Name)}, OnFail: "failed"}}, backToMenu...)
}

func (t *Script) Files() []File { return []File{t.File} }

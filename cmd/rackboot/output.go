package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/pflag"
)

// outputFlag is every command's --output (-o): text or json. "table", what
// the machines and leases commands called text, is still accepted.
type outputFlag struct{ format string }

func (o *outputFlag) register(fs *pflag.FlagSet) {
	fs.StringVarP(&o.format, "output", "o", "text", "text or json")
}

// check refuses a format we do not write.
func (o *outputFlag) check() error {
	switch o.format {
	case "text", "table", "json":
		return nil
	}
	return fmt.Errorf("--output %q: want text or json", o.format)
}

func (o *outputFlag) json() bool { return o.format == "json" }

// write writes v as JSON, or as its text.
func (o *outputFlag) write(w io.Writer, v interface{ WriteText(io.Writer) error }) error {
	if o.json() {
		return writeJSON(w, v)
	}
	return v.WriteText(w)
}

// writeJSON is the one JSON writer of the CLI: v, indented.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// jsonLine is v as one line of JSON, for streams (events --follow).
func jsonLine(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	return append(b, '\n'), err
}

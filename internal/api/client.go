package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Client calls a rackboot server's API; the CLI uses it for remote work and
// for anything that needs the running server's store.
type Client struct {
	Base  string // "http://10.0.0.5" (Prefix is added)
	Token string
	HTTP  *http.Client // nil: http.DefaultClient
}

// Do sends in (if not nil) as JSON and decodes the answer into out (if not nil).
// A non-2xx answer is returned as *Error with the server's message.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	resp, err := c.Send(ctx, method, path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	return nil
}

// Send is Do without decoding: the caller reads the body (a stream) and
// closes it. Errors are handled as in Do.
func (c *Client) Send(ctx context.Context, method, path string, in any) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.Base, "/")+Prefix+path, body)
	if err != nil {
		return nil, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("rackboot server at %s: %w", c.Base, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		e := &Error{Status: resp.StatusCode}
		if json.NewDecoder(resp.Body).Decode(e) != nil || e.Message == "" {
			e.Message = resp.Status
		}
		return nil, e
	}
	return resp, nil
}

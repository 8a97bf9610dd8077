package api

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"rackboot/internal/bmc"
)

// MachineBMC returns a machine's BMC settings (never the password).
func (c *Client) MachineBMC(ctx context.Context, mac string) (BMCView, error) {
	var out BMCView
	return out, c.Do(ctx, http.MethodGet, "/machines/"+url.PathEscape(mac)+"/bmc", nil, &out)
}

// SetMachineBMC changes a machine's own BMC settings.
func (c *Client) SetMachineBMC(ctx context.Context, mac string, p bmc.Patch) (BMCView, error) {
	var out BMCView
	return out, c.Do(ctx, http.MethodPatch, "/machines/"+url.PathEscape(mac)+"/bmc", p, &out)
}

// DeleteMachineBMC forgets a machine's own BMC settings.
func (c *Client) DeleteMachineBMC(ctx context.Context, mac string) error {
	return c.Do(ctx, http.MethodDelete, "/machines/"+url.PathEscape(mac)+"/bmc", nil, nil)
}

// Power runs a power action on a machine's BMC. A failure is both the
// error and the result's Error.
func (c *Client) Power(ctx context.Context, mac string, a bmc.Action) (bmc.Result, error) {
	var out bmc.Result
	err := c.Do(ctx, http.MethodPost, "/machines/"+url.PathEscape(mac)+"/power", PowerRequest{Action: a}, &out)
	return resultOf(out, mac, a, err)
}

// Boot sets a machine's next boot and, with req.Now, boots it now.
func (c *Client) Boot(ctx context.Context, mac string, req BootRequest) (BootResponse, error) {
	var out BootResponse
	err := c.Do(ctx, http.MethodPost, "/machines/"+url.PathEscape(mac)+"/boot", req, &out)
	if err != nil && req.Now {
		r, _ := resultOf(bmc.Result{}, mac, bmc.Cycle, err)
		out.Power = &r
	}
	return out, err
}

func resultOf(r bmc.Result, mac string, a bmc.Action, err error) (bmc.Result, error) {
	if err == nil {
		if r.MAC == "" {
			return r, errNoResult
		}
		return r, nil
	}
	r = bmc.Result{MAC: mac, Action: a, Error: err.Error()}
	var e *Error
	if !errors.As(err, &e) {
		r.Kind = bmc.KindFailed
	}
	return r, err
}

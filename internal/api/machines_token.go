package api

import (
	"context"
	"net/http"
)

// TokenResponse is the answer to POST /token/rotate.
type TokenResponse struct {
	Token string `json:"token"`
}

// RegisterTokenRotate mounts POST /token/rotate: the server makes a new
// token, stores it in the data directory and answers it. The old token stops
// working at once, so the caller must keep the answer.
func RegisterTokenRotate(s *Server, t *Tokens) {
	s.Handle("POST /token/rotate", func(w http.ResponseWriter, r *http.Request) error {
		tok, err := t.Rotate()
		if err != nil {
			return err
		}
		if s.Logger != nil {
			s.Logger.Info("API token rotated", "client", r.RemoteAddr)
		}
		return WriteJSON(w, http.StatusOK, TokenResponse{Token: tok})
	})
}

// RotateToken asks the server for a new token and returns it.
func (c *Client) RotateToken(ctx context.Context) (string, error) {
	var out TokenResponse
	return out.Token, c.Do(ctx, http.MethodPost, "/token/rotate", nil, &out)
}

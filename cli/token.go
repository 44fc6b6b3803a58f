package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// tokenPut: token put ID --refresh-token-file F|- [--scope S]. The token never
// appears on the command line.
func tokenPut(ctx context.Context, e *Env, args []string) error {
	fs := newFlags("token put", "ID --refresh-token-file F|- [--scope S]", e)
	conn := addConnFlags(fs.FlagSet)
	file := fs.String("refresh-token-file", "", "file holding the refresh token (one line); - reads stdin (required)")
	scope := fs.String("scope", "", "the token's scope, space separated (optional; learned at the first refresh otherwise)")
	pos, err := parse(fs, args, "ID")
	if err != nil {
		return err
	}
	if *file == "" {
		return usagef("token put: --refresh-token-file is required (a file holding the refresh token, or - for stdin; never the token itself)")
	}
	c, err := conn.client(e)
	if err != nil {
		return err
	}
	rt, err := readSecretFile("--refresh-token-file", *file, e)
	if err != nil {
		return err
	}
	body, err := json.Marshal(map[string]string{"refresh_token": rt, "scope": *scope})
	if err != nil {
		return err
	}
	if err := c.do(ctx, http.MethodPut, "/admin/v1/accounts/"+url.PathEscape(pos[0])+"/token", nil, strings.NewReader(string(body)), nil); err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "stored the refresh token of %s\n", pos[0])
	return nil
}

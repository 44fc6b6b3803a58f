package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
)

// accountsList: accounts list [--status=S[,S…]] [-o table|json].
func accountsList(ctx context.Context, e *Env, args []string) error {
	fs := newFlags("accounts list", "[--status=S[,S...]] [-o table|json]", e)
	conn := addConnFlags(fs.FlagSet)
	status := fs.String("status", "", "only accounts with this status (ok, reauth_required, corrupt, …; comma-separated)")
	output := fs.String("o", "table", "output: table or json")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if err := oneOf("-o", *output, "table", "json"); err != nil {
		return err
	}
	want := map[string]bool{}
	for _, s := range strings.Split(*status, ",") {
		if s = strings.TrimSpace(s); s != "" {
			want[s] = true
		}
	}
	c, err := conn.client(e)
	if err != nil {
		return err
	}
	out := newAccountWriter(e.Stdout, *output)
	err = c.eachAccount(ctx, func(raw json.RawMessage, a account) error {
		if len(want) > 0 && !want[a.Status] {
			return nil
		}
		return out.add(raw, a)
	})
	if err != nil {
		return err
	}
	return out.close()
}

// accountsGet: accounts get ID [-o json|table].
func accountsGet(ctx context.Context, e *Env, args []string) error {
	fs := newFlags("accounts get", "ID [-o json|table]", e)
	conn := addConnFlags(fs.FlagSet)
	output := fs.String("o", "json", "output: json or table")
	pos, err := parse(fs, args, "ID")
	if err != nil {
		return err
	}
	if err := oneOf("-o", *output, "table", "json"); err != nil {
		return err
	}
	c, err := conn.client(e)
	if err != nil {
		return err
	}
	raw, a, err := c.findAccount(ctx, pos[0])
	if err != nil {
		return err
	}
	if a == nil {
		return fmt.Errorf("account %q not found", pos[0])
	}
	if *output == "json" {
		var v any
		_ = json.Unmarshal(raw, &v)
		enc := json.NewEncoder(e.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	w := newAccountWriter(e.Stdout, "table")
	if err := w.add(raw, *a); err != nil {
		return err
	}
	return w.close()
}

// accountsDelete: accounts delete ID.
func accountsDelete(ctx context.Context, e *Env, args []string) error {
	fs := newFlags("accounts delete", "ID", e)
	conn := addConnFlags(fs.FlagSet)
	pos, err := parse(fs, args, "ID")
	if err != nil {
		return err
	}
	c, err := conn.client(e)
	if err != nil {
		return err
	}
	if err := c.do(ctx, http.MethodDelete, "/admin/v1/accounts/"+url.PathEscape(pos[0]), nil, nil, nil); err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "deleted account %s\n", pos[0])
	return nil
}

// accountWriter prints accounts as they come: a table, or one JSON document
// {"accounts":[…]} written element by element (the list may be long).
type accountWriter struct {
	w      io.Writer
	json   bool
	tw     *tabwriter.Writer
	n      int
	failed error
}

func newAccountWriter(w io.Writer, output string) *accountWriter {
	aw := &accountWriter{w: w, json: output == "json"}
	if aw.json {
		_, aw.failed = io.WriteString(w, `{"accounts":[`)
	} else {
		aw.tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(aw.tw, "ID\tSTATUS\tACCESS TOKEN EXPIRES\tREFRESHED\tAUTHORIZED\tREFRESH TOKEN EXPIRES\tSCOPE")
	}
	return aw
}

func (aw *accountWriter) add(raw json.RawMessage, a account) error {
	if aw.failed != nil {
		return aw.failed
	}
	if aw.json {
		sep := ""
		if aw.n > 0 {
			sep = ","
		}
		_, aw.failed = fmt.Fprintf(aw.w, "%s\n%s", sep, compact(raw))
	} else {
		_, aw.failed = fmt.Fprintf(aw.tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.ID, a.Status, orDash(a.ExpiresAt), orDash(a.RefreshedAt),
			orDash(a.AuthorizedAt), orDash(a.RefreshTokenExpiresAt), dashIfEmpty(a.Scope))
	}
	aw.n++
	return aw.failed
}

func (aw *accountWriter) close() error {
	if aw.failed != nil {
		return aw.failed
	}
	if aw.json {
		_, err := io.WriteString(aw.w, "\n]}\n")
		return err
	}
	return aw.tw.Flush()
}

func compact(raw json.RawMessage) string {
	var b strings.Builder
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return string(raw)
	}
	out, _ := json.Marshal(v)
	b.Write(out)
	return b.String()
}

func orDash(s *string) string {
	if s == nil {
		return "-"
	}
	return dashIfEmpty(*s)
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

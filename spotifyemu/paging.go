package spotifyemu

import (
	"net/url"
	"strconv"
	"strings"
)

// page is Spotify's paging object. next and previous are absolute URLs on
// the emulator's base URL, or null.
type page[T any] struct {
	Href     string  `json:"href"`
	Items    []T     `json:"items"`
	Limit    int     `json:"limit"`
	Next     *string `json:"next"`
	Offset   int     `json:"offset"`
	Previous *string `json:"previous"`
	Total    int     `json:"total"`
}

// pageReq is one page asked of a list: where the list lives and which
// query parameters its page URLs carry.
type pageReq struct {
	path          string     // after /v1/
	lead          string     // encoded parameters before offset and limit (search: query and type)
	limit, offset int        // already checked against the list's limits
	query         url.Values // other parameters kept in href, next and previous
}

// pageLimits are a list's limit default and maximum and its largest
// offset (0: none).
type pageLimits struct {
	def, max, maxOffset int
}

// The lists' limits, as Spotify's OpenAPI description gives them.
func limitsDefault() pageLimits        { return pageLimits{def: 20, max: 50} }
func limitsMyPlaylists() pageLimits    { return pageLimits{def: 20, max: 50, maxOffset: 100_000} }
func limitsPlaylistTracks() pageLimits { return pageLimits{def: 20, max: 100} } // the older /tracks
func limitsSearch() pageLimits         { return pageLimits{def: 5, max: 10, maxOffset: 1000} }

// parsePaging reads limit and offset; msg is Spotify's 400 message when one
// is out of bounds or not a number.
func parsePaging(q url.Values, l pageLimits) (limit, offset int, msg string) {
	limit = l.def
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > l.max {
			return 0, 0, "Invalid limit"
		}
		limit = n
	}
	if s := q.Get("offset"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || (l.maxOffset > 0 && n > l.maxOffset) {
			return 0, 0, "Invalid offset"
		}
		offset = n
	}
	return limit, offset, ""
}

// keptParams returns q without the parameters a page URL sets itself.
func keptParams(q url.Values, drop ...string) url.Values {
	kept := url.Values{}
	for k, v := range q {
		switch k {
		case "limit", "offset":
			continue
		}
		skip := false
		for _, d := range drop {
			skip = skip || k == d
		}
		if !skip {
			kept[k] = v
		}
	}
	return kept
}

// pageURL is the absolute URL of the page at offset, in Spotify's parameter
// order: the lead parameters, offset, limit, then the others sorted.
func (c catalog) pageURL(pg pageReq, offset int) string {
	var b strings.Builder
	b.WriteString(c.apiURL(pg.path))
	b.WriteByte('?')
	if pg.lead != "" {
		b.WriteString(pg.lead)
		b.WriteByte('&')
	}
	b.WriteString("offset=")
	b.WriteString(strconv.Itoa(offset))
	b.WriteString("&limit=")
	b.WriteString(strconv.Itoa(pg.limit))
	if rest := pg.query.Encode(); rest != "" {
		b.WriteByte('&')
		b.WriteString(rest)
	}
	return b.String()
}

// buildPage builds the page pg of a list of total items; item(i) makes the
// item at index i. An offset past the end answers an empty page.
func buildPage[T any](c catalog, pg pageReq, total int, item func(int) T) page[T] {
	end := min(pg.offset+pg.limit, total)
	items := make([]T, 0, max(end-pg.offset, 0))
	for i := pg.offset; i < end; i++ {
		items = append(items, item(i))
	}
	p := page[T]{
		Href:   c.pageURL(pg, pg.offset),
		Items:  items,
		Limit:  pg.limit,
		Offset: pg.offset,
		Total:  total,
	}
	if pg.offset+pg.limit < total {
		p.Next = ptr(c.pageURL(pg, pg.offset+pg.limit))
	}
	if pg.offset > 0 {
		p.Previous = ptr(c.pageURL(pg, max(pg.offset-pg.limit, 0)))
	}
	return p
}

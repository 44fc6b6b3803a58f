package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/spotify-token-proxy/spotify-token-proxy/spotifyemu"
)

// receivedSpan is a span as an OTLP receiver decoded it, with its resource.
type receivedSpan struct {
	*tracepb.Span
	resource map[string]string
}

// otlpReceiver collects what the proxy exports.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []receivedSpan
}

func (o *otlpReceiver) add(req *coltracepb.ExportTraceServiceRequest) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		res := map[string]string{}
		for _, kv := range rs.GetResource().GetAttributes() {
			res[kv.GetKey()] = kv.GetValue().GetStringValue()
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				o.spans = append(o.spans, receivedSpan{sp, res})
			}
		}
	}
}

func (o *otlpReceiver) all() []receivedSpan {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]receivedSpan(nil), o.spans...)
}

// ServeHTTP is OTLP/HTTP: a protobuf ExportTraceServiceRequest on /v1/traces.
func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != "POST" || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "not OTLP/HTTP protobuf traces", http.StatusNotFound)
		return
	}
	b, err := io.ReadAll(r.Body)
	req := &coltracepb.ExportTraceServiceRequest{}
	if err != nil || proto.Unmarshal(b, req) != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	o.add(req)
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(out)
}

// grpcReceiver is OTLP/gRPC's TraceService.
type grpcReceiver struct {
	coltracepb.UnimplementedTraceServiceServer
	o *otlpReceiver
}

func (g grpcReceiver) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	g.o.add(req)
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

func attrs(kvs []*commonpb.KeyValue) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		v := kv.GetValue()
		switch {
		case v.GetStringValue() != "":
			m[kv.GetKey()] = v.GetStringValue()
		default:
			m[kv.GetKey()] = strings.Trim(v.String(), " ")
		}
	}
	return m
}

// The binary exports its spans over OTLP (HTTP and gRPC) to a receiver here: the
// server span and the upstream client span arrive in the caller's trace, with the
// resource from OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES; the admin API's
// span has the route, not the account id; the cold request's refresh is a span in
// its trace, with the token endpoint call as a client span under it; no secret is in
// any attribute.
func TestTracesReachAnOTLPReceiver(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds and runs the binary")
	}
	for _, protocol := range []string{"http/protobuf", "grpc"} {
		t.Run(protocol, func(t *testing.T) {
			rec := &otlpReceiver{}
			var endpoint string
			if protocol == "grpc" {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				gs := grpc.NewServer()
				coltracepb.RegisterTraceServiceServer(gs, grpcReceiver{o: rec})
				go gs.Serve(ln)
				t.Cleanup(gs.Stop)
				endpoint = "http://" + ln.Addr().String()
			} else {
				hs := httptest.NewServer(rec)
				t.Cleanup(hs.Close)
				endpoint = hs.URL
			}
			emu := spotifyemu.New(spotifyemu.Options{ClientID: "c", ClientSecret: "s"})
			es := httptest.NewServer(emu)
			t.Cleanup(es.Close)
			const adminToken = "admin-token-for-the-trace-test"
			seed := emu.IssueRefreshToken("")
			p := startProxy(t, map[string]string{
				"SPOTIFY_CLIENT_ID": "c", "SPOTIFY_CLIENT_SECRET": "s", "SPOTIFY_REFRESH_TOKEN": seed,
				"SPOTIFY_API_URL": es.URL, "SPOTIFY_ACCOUNTS_URL": es.URL, "TOKEN_FILE": filepath.Join(t.TempDir(), "t.json"),
				"ADMIN_TOKEN":                 adminToken,
				"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
				"OTEL_SERVICE_NAME": "proxy-under-test", "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=e2e",
			})
			const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
			req, _ := http.NewRequest("GET", "http://"+p.listen+"/v1/me", nil)
			req.Header.Set("traceparent", "00-"+traceID+"-"+parentID+"-01")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("proxied request: %d", resp.StatusCode)
			}
			areq, _ := http.NewRequest("GET", "http://"+p.admin+"/admin/v1/accounts/default/token", nil)
			areq.Header.Set("Authorization", "Bearer "+adminToken)
			if resp, err = http.DefaultClient.Do(areq); err != nil || resp.StatusCode != 200 {
				t.Fatalf("admin token read: %v %v", err, resp)
			}
			resp.Body.Close()
			p.stop(t) // SIGTERM: the buffered spans are exported before exit

			var server, client, admin, tokenCall, refresh, endpointSpan *receivedSpan
			spans := rec.all()
			for i, sp := range spans {
				switch {
				case sp.GetName() == "token refresh":
					refresh = &spans[i]
				case sp.GetName() == "token endpoint":
					endpointSpan = &spans[i]
				case sp.GetKind() == tracepb.Span_SPAN_KIND_SERVER && sp.GetName() == "GET":
					server = &spans[i]
				case sp.GetKind() == tracepb.Span_SPAN_KIND_CLIENT && sp.GetName() == "GET":
					client = &spans[i]
				case sp.GetKind() == tracepb.Span_SPAN_KIND_SERVER && strings.HasPrefix(sp.GetName(), "GET /admin/"):
					admin = &spans[i]
				case sp.GetKind() == tracepb.Span_SPAN_KIND_CLIENT && sp.GetName() == "POST" &&
					strings.HasSuffix(attrs(sp.GetAttributes())["url.full"], "/api/token"):
					tokenCall = &spans[i]
				}
			}
			if server == nil || client == nil || admin == nil || tokenCall == nil || refresh == nil || endpointSpan == nil {
				t.Fatalf("want a proxy server span, an upstream client span, an admin span, a refresh and a token endpoint call; got %d spans: %v", len(spans), spans)
			}
			// The cold request refreshed: the refresh span is in the caller's trace, and
			// the token endpoint's client span is a step of it.
			if got := hex.EncodeToString(refresh.GetTraceId()); got != traceID {
				t.Errorf("refresh span trace %s, want the caller's %s", got, traceID)
			}
			if a := attrs(refresh.GetAttributes()); a["spotify_proxy.refresh.cause"] != "expired" || a["spotify_proxy.refresh.outcome"] != "written" {
				t.Errorf("refresh span attributes %v", a)
			}
			if !bytes.Equal(endpointSpan.GetParentSpanId(), refresh.GetSpanId()) || !bytes.Equal(tokenCall.GetParentSpanId(), endpointSpan.GetSpanId()) {
				t.Errorf("the token endpoint call is not under the refresh span")
			}
			if got := hex.EncodeToString(server.GetTraceId()); got != traceID {
				t.Errorf("server span trace %s, want the caller's %s", got, traceID)
			}
			if got := hex.EncodeToString(server.GetParentSpanId()); got != parentID {
				t.Errorf("server span parent %s, want the caller's %s", got, parentID)
			}
			if got := hex.EncodeToString(client.GetTraceId()); got != traceID {
				t.Errorf("client span trace %s, want %s", got, traceID)
			}
			if !proto.Equal(&tracepb.Span{SpanId: client.GetParentSpanId()}, &tracepb.Span{SpanId: server.GetSpanId()}) {
				t.Errorf("the client span's parent is not the server span")
			}
			if a := attrs(server.GetAttributes()); a["url.path"] != "/v1/me" || a["http.request.method"] != "GET" {
				t.Errorf("server span attributes %v", a)
			}
			if got := server.resource["service.name"]; got != "proxy-under-test" {
				t.Errorf("service.name %q, want OTEL_SERVICE_NAME", got)
			}
			if got := server.resource["deployment.environment.name"]; got != "e2e" {
				t.Errorf("deployment.environment.name %q, want OTEL_RESOURCE_ATTRIBUTES'", got)
			}
			if a := attrs(admin.GetAttributes()); admin.GetName() != "GET /admin/v1/accounts/{id}/token" ||
				a["url.path"] != "/admin/v1/accounts/{id}/token" || a["http.route"] != "/admin/v1/accounts/{id}/token" {
				t.Errorf("admin span %q %v: want the route and no account id", admin.GetName(), a)
			}
			for _, sp := range spans {
				for _, v := range attrs(sp.GetAttributes()) {
					if strings.Contains(v, adminToken) || strings.Contains(v, seed) || strings.Contains(v, "Bearer") {
						t.Errorf("span %q holds a secret: %q", sp.GetName(), v)
					}
				}
			}
		})
	}
}

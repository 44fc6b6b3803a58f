package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/spotify-token-proxy/spotify-token-proxy/bench/internal/procs"
)

func startNginx(path, work, upstream string) (string, *exec.Cmd, error) {
	addr := procs.FreeAddr()
	up := strings.TrimPrefix(upstream, "http://")
	dir := filepath.Join(work, "nginx")
	os.MkdirAll(filepath.Join(dir, "logs"), 0o755)
	conf := fmt.Sprintf(`worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path %[1]s/body; proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fcgi; uwsgi_temp_path %[1]s/uwsgi; scgi_temp_path %[1]s/scgi;
  upstream spotify { server %[2]s; keepalive 256; }
  server {
    listen %[3]s;
    location / {
      proxy_pass http://spotify;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Authorization "Bearer static-token";
    }
  }
}
`, dir, up, addr)
	cf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		return "", nil, err
	}
	args := []string{path, "-c", cf, "-p", dir, "-g", "daemon off;"}
	cmd := exec.Command(args[0], args[1:]...)
	if cpus := serverCPUs(); cpus != "" {
		cmd = exec.Command("taskset", append([]string{"-c", cpus}, args...)...)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	if err := procs.WaitTCP(addr, 10*time.Second); err != nil {
		cmd.Process.Kill()
		return "", nil, err
	}
	return "http://" + addr, cmd, nil
}

func waitHTTP(url string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready", url)
}

"""The reference proxy: Debian nginx with a generated config in a temp dir, streaming unbuffered.

One worker process, like the sidecar's one event loop, so CPU per chunk compares like with like.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

CONFIG = """\
daemon off;
master_process on;
worker_processes 1;
{user}
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
worker_rlimit_nofile 20000;

events {{
    worker_connections 8192;
}}

http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    keepalive_timeout 75s;
    keepalive_requests 100000;
    client_max_body_size 32m;

    upstream model_server {{
        server 127.0.0.1:{upstream_port};
        keepalive 1024;
        keepalive_requests 100000;
        keepalive_timeout 60s;
    }}

    server {{
        listen 127.0.0.1:{listen_port} backlog=4096;
        location / {{
            proxy_pass http://model_server;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_buffering off;
            proxy_request_buffering off;
            proxy_read_timeout 300s;
        }}
    }}
}}
"""


def nginx_binary() -> str | None:
    return shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").is_file() else None)


def write_config(prefix: Path, *, listen_port: int, upstream_port: int) -> Path:
    """Write ``nginx.conf`` under ``prefix`` (temp paths, pid and logs all inside it)."""
    prefix.mkdir(parents=True, exist_ok=True)
    # As root, workers would switch to "nobody" and lose access to the temp dir: stay root.
    user = "user root;" if os.geteuid() == 0 else ""
    path = prefix / "nginx.conf"
    path.write_text(
        CONFIG.format(prefix=prefix, user=user, listen_port=listen_port, upstream_port=upstream_port)
    )
    return path


def argv(binary: str, prefix: Path, config: Path) -> list[str]:
    # -e: the error log before the config is read; otherwise nginx tries /var/log/nginx first.
    return [binary, "-p", str(prefix), "-c", str(config), "-e", str(prefix / "error.log")]

#!/bin/sh
# The inside (container NAME-dns, network mode none: loopback only; the MCP server joins this
# network namespace): dnsmasq on 127.0.0.1:53 answering only the allowed names (forwarding
# names under .domain entries through /run/thv-net/dns.sock), 127.0.0.1:3128
# forwarded to the egress proxy's unix socket, and for HTTP transports the ingress socket
# forwarded to the server's port on loopback.
set -eu
printf '%s\n' "$THV_DNSMASQ_CONF" > /tmp/dnsmasq.conf
dnsmasq --no-daemon --conf-file=/tmp/dnsmasq.conf &
dns_pid=$!
socat TCP4-LISTEN:3128,bind=127.0.0.1,fork,reuseaddr UNIX-CONNECT:/run/thv-net/egress.sock &
if [ -n "${THV_DNS_FORWARD:-}" ]; then
  # One child per query, gone after 5 s idle; the egress side sends it to its resolver.
  socat -T 5 "UDP4-RECVFROM:$THV_DNS_FORWARD,bind=127.0.0.1,fork" UNIX-CONNECT:/run/thv-net/dns.sock &
fi
if [ -n "${THV_TARGET_PORT:-}" ]; then
  rm -f /run/thv-net/ingress.sock
  socat UNIX-LISTEN:/run/thv-net/ingress.sock,fork,mode=666 "TCP4:127.0.0.1:$THV_TARGET_PORT" &
fi
i=0
until [ -S /run/thv-net/egress.sock ]; do
  i=$((i + 1)); [ "$i" -lt 600 ] || { echo "the egress proxy did not come up" >&2; exit 1; }
  sleep 0.05
done
echo "toolhive-netproxy: inside ready"
wait "$dns_pid"

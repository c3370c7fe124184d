#!/bin/sh
# The egress side (container NAME-egress, on the engine's bridge network, as user proxy):
# squid on 127.0.0.1:3128 with the workload's ACLs, reachable only through the unix socket
# /run/thv-net/egress.sock that the inside sidecar forwards 127.0.0.1:3128 to; forwarded DNS
# queries (dns.sock) to this container's resolver; and, for HTTP
# transports, the ingress listener (published on the host's 127.0.0.1) forwarding to
# /run/thv-net/ingress.sock, which the inside sidecar connects to the server's port.
set -eu
printf '%s\n' "$THV_SQUID_CONF" > /tmp/squid.conf
squid -N -f /tmp/squid.conf &
squid_pid=$!
i=0
# 0C38 = port 3128, 0A = LISTEN
until grep -q ':0C38 00000000:0000 0A' /proc/net/tcp; do
  i=$((i + 1)); [ "$i" -lt 300 ] || { echo "squid did not start" >&2; exit 1; }
  kill -0 "$squid_pid" 2>/dev/null || { echo "squid exited" >&2; exit 1; }
  sleep 0.1
done
if [ -n "${THV_DNS_FORWARD:-}" ]; then
  # DNS queries for names under a .domain entry, from the inside's dnsmasq: to this container's
  # resolver (the engine's copy of the host's configured servers).
  ns=$(awk '/^nameserver [0-9.]+$/ { print $2; exit }' /etc/resolv.conf)
  if [ -n "$ns" ]; then
    rm -f /run/thv-net/dns.sock
    socat UNIX-LISTEN:/run/thv-net/dns.sock,fork,mode=666 "UDP4:$ns:53" &
  fi
fi
# Last: the inside sidecar is ready once this socket exists.
rm -f /run/thv-net/egress.sock
socat UNIX-LISTEN:/run/thv-net/egress.sock,fork,mode=666 TCP4:127.0.0.1:3128 &
if [ -n "${THV_INGRESS_PORT:-}" ]; then
  socat "TCP4-LISTEN:$THV_INGRESS_PORT,fork,reuseaddr" UNIX-CONNECT:/run/thv-net/ingress.sock &
fi
echo "toolhive-netproxy: egress ready"
wait "$squid_pid"

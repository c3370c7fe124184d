#!/usr/bin/env bash
# Start, stop or inspect the single-node Kubernetes 1.20.2 test cluster (binaries from
# scripts/install-k8s.sh; kubelet runs pods on dockerd through its built-in dockershim).
#
#   start    certificates (once), etcd, kube-apiserver, controller-manager, scheduler, kubelet,
#            kube-proxy and the hairpin loop; waits for the Node to be Ready and the default
#            ServiceAccount to exist, and prints the timings. Already running: nothing to do.
#   stop     stops the recorded processes, removes the pods' containers, iptables chains, kubelet
#            mounts and state, the etcd data (the next start is a fresh cluster), restores sysctls.
#   status   exit 0 when running and the node is Ready, 3 when stopped, 1 when half up.
#
# Use it:  export KUBECONFIG=$K8S/run/admin.kubeconfig PATH=$K8S/bin:$PATH
# K8S defaults to /var/cache/toolhive-test/k8s (env TOOLHIVE_K8S_DIR). Logs: $K8S/run/logs/.
# API_ADDR=172.17.0.1 (default; docker0) lets pods reach the API server as kubernetes.default
# (10.0.0.1:443); API_ADDR=127.0.0.1 keeps it on loopback (then pods cannot reach it).
#
# Usage: scripts/k8s-cluster.sh start|stop|status
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
K8S="${TOOLHIVE_K8S_DIR:-/var/cache/toolhive-test/k8s}"
B="$K8S/bin"
P="$K8S/pki"
R="$K8S/run"
L="$R/logs"
NODE="$(hostname)" # node name; must resolve to 127.0.0.1 (the apiserver reaches the kubelet by it)
NODE_IP=172.17.0.1 # docker0's address: kubelet refuses a loopback node IP
API_ADDR="${API_ADDR:-172.17.0.1}"
# A running cluster answers where it was started (status and stop must not depend on the caller's env).
if [[ -s "$R/pids" && -s "$R/api_addr" ]] && [[ "${1:-}" != start ]]; then API_ADDR="$(cat "$R/api_addr")"; fi
DOCKER_SOCK=/var/run/docker.sock
PAUSE_IMAGE=localhost/pause:3.4
export DOCKER_HOST="unix://$DOCKER_SOCK" KUBECONFIG="$R/admin.kubeconfig"
BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
# kubelet and kube-proxy change these; saved once at start, restored at stop.
SYSCTLS=(vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops kernel/keys/root_maxkeys
  kernel/keys/root_maxbytes net/ipv4/conf/all/route_localnet
  net/netfilter/nf_conntrack_tcp_timeout_established net/netfilter/nf_conntrack_tcp_timeout_close_wait)
# Seconds to wait for each step before giving up (with the component's log).
ETCD_TIMEOUT=30 API_TIMEOUT=90 NODE_TIMEOUT=120

LOG_TAG=k8s-cluster
# shellcheck source=scripts/lib.sh
source "$REPO_ROOT/scripts/lib.sh"

now() { date +%s.%N; }
since() { printf '%.1f' "$(echo "$(now) - $1" | bc)"; }

# alive NAME PID: the process we started is still running (not a zombie, pid not reused).
alive() {
  local comm
  comm="$(ps -o comm= -p "$2" 2>/dev/null)" || return 1
  [[ "$(ps -o stat= -p "$2")" != Z* ]] || return 1
  case "$1" in
    hairpin) [[ "$comm" == bash ]] ;;
    *) [[ "$comm" == "${1:0:15}" ]] ;; # comm is cut at 15 characters
  esac
}
recorded() { [[ -s "$R/pids" ]] && cat "$R/pids"; }
api_ready() { curl -sf --max-time 3 --cacert "$P/ca.crt" "https://$API_ADDR:6443/readyz" >/dev/null 2>&1; }
node_ready() {
  [[ "$("$B/kubectl" get node "$NODE" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]]
}

# count_alive: how many recorded processes run; all_alive: every one of the 7 does.
count_alive() {
  local n=0 name pid
  while read -r name pid; do alive "$name" "$pid" && n=$((n + 1)); done < <(recorded || true)
  echo "$n"
}

# wait_for WHAT TIMEOUT LOGNAME CMD...: poll CMD every 0.2 s; on timeout show the log and fail.
wait_for() {
  local what=$1 timeout=$2 logname=$3 deadline
  shift 3
  deadline=$(($(date +%s) + timeout))
  until "$@"; do
    if (($(date +%s) >= deadline)); then
      echo "----- last lines of $L/$logname.log -----" >&2
      tail -n 30 "$L/$logname.log" >&2 || true
      log "$what not reached within ${timeout}s: stopping what was started"
      do_stop >&2 || true
      die "cluster start failed ($what); logs: $L/"
    fi
    sleep 0.2
  done
}

# --- certificates, tokens, kubeconfigs (once per machine and hostname) ---------------------------
make_pki() {
  [[ -s "$P/tokens.csv" && "$(cat "$P/node" 2>/dev/null)" == "$NODE" ]] && return 0
  log "creating the cluster CA, certificates, tokens and kubeconfigs in $P"
  rm -rf "$P"
  mkdir -p "$P"
  (
    cd "$P"
    umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 -subj "/CN=toolhive-test-k8s-ca" 2>/dev/null
    # apiserver serving cert: loopback, the kubernetes Service's ClusterIP, docker0.
    cat >apiserver.ext <<EOF
subjectAltName=IP:127.0.0.1,IP:10.0.0.1,IP:$NODE_IP,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
extendedKeyUsage=serverAuth
EOF
    openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr -subj "/CN=kube-apiserver" 2>/dev/null
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out apiserver.crt -days 3650 \
      -extfile apiserver.ext 2>/dev/null
    # the client certificate the apiserver shows the kubelet (logs, exec, attach, port-forward)
    echo "extendedKeyUsage=clientAuth" >client.ext
    openssl req -newkey rsa:2048 -nodes -keyout apiserver-kubelet-client.key -out apiserver-kubelet-client.csr \
      -subj "/O=system:masters/CN=kube-apiserver-kubelet-client" 2>/dev/null
    openssl x509 -req -in apiserver-kubelet-client.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
      -out apiserver-kubelet-client.crt -days 3650 -extfile client.ext 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    # static tokens (token,user,uid,"groups"): one per component, and admin for tests and users
    gen() { openssl rand -hex 16; }
    cat >tokens.csv <<EOF
$(gen),admin,admin,"system:masters"
$(gen),system:kube-controller-manager,kcm
$(gen),system:kube-scheduler,ksched
$(gen),system:node:$NODE,kubelet,"system:nodes"
$(gen),system:kube-proxy,kproxy
EOF
    tok() { awk -F, -v u="$1" '$2==u{print $1}' tokens.csv; }
    # kubeconfig templates; start writes copies with the API address into $R
    mk() {
      cat >"$1.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: toolhive-test
  cluster: {server: "https://API_ADDR:6443", certificate-authority: $P/ca.crt}
users:
- name: $1
  user: {token: "$2"}
contexts:
- name: toolhive-test
  context: {cluster: toolhive-test, user: $1}
current-context: toolhive-test
EOF
    }
    mk admin "$(tok admin)"
    mk controller-manager "$(tok system:kube-controller-manager)"
    mk scheduler "$(tok system:kube-scheduler)"
    mk kubelet "$(tok "system:node:$NODE")"
    mk kube-proxy "$(tok system:kube-proxy)"
    echo "$NODE" >node
  )
}

# --- start ----------------------------------------------------------------------------------------
launch() { # launch NAME CMD...: detached (survives this script), log in $L/NAME.log, pid recorded
  local name=$1
  shift
  # 9>&-: the daemons must not inherit the start/stop lock.
  setsid nohup "$@" >"$L/$name.log" 2>&1 </dev/null 9>&- &
  echo "$name $!" >>"$R/pids"
}

do_start() {
  local b t0 t_api t_ready n
  for b in "${BINARIES[@]}"; do
    [[ -x "$B/$b" ]] || die "$B/$b missing: build the cluster first with scripts/install-k8s.sh [--yes]"
  done
  command -v etcd >/dev/null || die "etcd missing: run scripts/install-k8s.sh [--yes]"
  ((EUID == 0)) || die "must run as root (kubelet, kube-proxy, iptables, sysctls)"
  curl -sf --max-time 3 --unix-socket "$DOCKER_SOCK" http://d/_ping >/dev/null ||
    die "dockerd does not answer on unix://$DOCKER_SOCK: run scripts/install-engines.sh first"
  docker image inspect "$PAUSE_IMAGE" >/dev/null 2>&1 ||
    die "$PAUSE_IMAGE is not in dockerd: run scripts/install-k8s.sh (it imports it)"
  getent ahostsv4 "$NODE" | grep -q '^127\.' ||
    die "the hostname $NODE must resolve to 127.0.0.1 (/etc/hosts): the apiserver reaches the kubelet by it"

  n="$(count_alive)"
  if ((n == 7)) && [[ "$(cat "$R/api_addr" 2>/dev/null)" == "$API_ADDR" ]] && api_ready && node_ready; then
    log "already running (node $NODE Ready); KUBECONFIG=$KUBECONFIG"
    return 0
  fi
  if [[ -s "$R/pids" ]]; then
    log "a previous cluster is half up ($n of 7 processes): cleaning it up first"
    do_stop
  fi

  make_pki
  mkdir -p "$R" "$L"
  : >"$R/pids"
  echo "$API_ADDR" >"$R/api_addr"
  if [[ ! -s "$K8S/sysctl.saved" ]]; then
    for s in "${SYSCTLS[@]}"; do [[ -e /proc/sys/$s ]] && echo "$s $(cat "/proc/sys/$s")"; done >"$K8S/sysctl.saved"
  fi
  for k in "$P"/*.kubeconfig; do sed "s#https://API_ADDR:6443#https://$API_ADDR:6443#" "$k" >"$R/${k##*/}"; done
  chmod 600 "$R"/*.kubeconfig
  cat >"$R/kubelet-config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
cgroupDriver: cgroupfs
failSwapOn: false
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $P/ca.crt}
authorization:
  mode: Webhook
clusterDomain: cluster.local
serializeImagePulls: false
EOF
  # Endpoints may not be loopback: with the API on 127.0.0.1 the kubernetes Service gets none.
  local epr=lease
  [[ "$API_ADDR" == 127.* ]] && epr=none

  t0="$(now)"
  launch etcd etcd --name toolhive-test --data-dir "$R/etcd" \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster toolhive-test=http://127.0.0.1:2380 --listen-metrics-urls http://127.0.0.1:2381
  wait_for "etcd health" "$ETCD_TIMEOUT" etcd curl -sf --max-time 2 http://127.0.0.1:2379/health -o /dev/null
  launch kube-apiserver "$B/kube-apiserver" --etcd-servers=http://127.0.0.1:2379 \
    --bind-address="$API_ADDR" --advertise-address="$API_ADDR" --secure-port=6443 --insecure-port=0 \
    --tls-cert-file="$P/apiserver.crt" --tls-private-key-file="$P/apiserver.key" --client-ca-file="$P/ca.crt" \
    --service-cluster-ip-range=10.0.0.0/24 --endpoint-reconciler-type="$epr" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$P/sa.pub" --service-account-signing-key-file="$P/sa.key" \
    --token-auth-file="$P/tokens.csv" --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
    --kubelet-client-certificate="$P/apiserver-kubelet-client.crt" --kubelet-client-key="$P/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types=Hostname,InternalIP --allow-privileged=true
  wait_for "kube-apiserver /readyz" "$API_TIMEOUT" kube-apiserver api_ready
  t_api="$(since "$t0")"
  launch kube-controller-manager "$B/kube-controller-manager" --kubeconfig="$R/controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 --port=0 --leader-elect=false \
    --service-account-private-key-file="$P/sa.key" --root-ca-file="$P/ca.crt" --use-service-account-credentials \
    --controllers='*,-nodeipam,-cloud-node-lifecycle,-service,-route,-bootstrapsigner,-tokencleaner'
  launch kube-scheduler "$B/kube-scheduler" --kubeconfig="$R/scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --port=0 --leader-elect=false
  # kube-proxy before the kubelet: no pod may send to a Service address before its rules exist.
  launch kube-proxy "$B/kube-proxy" --kubeconfig="$R/kube-proxy.kubeconfig" --hostname-override="$NODE" \
    --proxy-mode=iptables --cluster-cidr=172.17.0.0/16 --bind-address=127.0.0.1 \
    --healthz-bind-address=127.0.0.1:10256 --metrics-bind-address=127.0.0.1:10249 \
    --conntrack-max-per-core=0 --oom-score-adj=0
  # --oom-score-adj=0 and the patched kubelet: lowering oom_score_adj needs CAP_SYS_RESOURCE (absent here).
  launch kubelet "$B/kubelet" --config="$R/kubelet-config.yaml" --kubeconfig="$R/kubelet.kubeconfig" \
    --container-runtime=docker --docker-endpoint="unix://$DOCKER_SOCK" --pod-infra-container-image="$PAUSE_IMAGE" \
    --hostname-override="$NODE" --node-ip="$NODE_IP" --root-dir=/var/lib/kubelet --cert-dir="$R/kubelet-pki" \
    --oom-score-adj=0
  # Hairpin (a pod reaching itself through its own Service): docker0's ports have it off, and
  # kubelet's hairpin-veth mode only works with kubenet.
  launch hairpin bash -c 'while sleep 2; do for f in /sys/class/net/docker0/brif/*/hairpin_mode; do
    [ -e "$f" ] && [ "$(cat "$f" 2>/dev/null)" != 1 ] && { echo 1 >"$f"; } 2>/dev/null; done; done'
  wait_for "node $NODE Ready" "$NODE_TIMEOUT" kubelet node_ready
  t_ready="$(since "$t0")"
  # Pods are refused until the ServiceAccount controller has made the namespace's default account.
  wait_for "default ServiceAccount" 60 kube-controller-manager \
    "$B/kubectl" get serviceaccount default -n default -o name >/dev/null 2>&1
  log "cluster up: apiserver ready after ${t_api}s, node $NODE Ready after ${t_ready}s, usable after $(since "$t0")s"
  log "export KUBECONFIG=$KUBECONFIG PATH=$B:\$PATH   (logs: $L/, stop: scripts/k8s-cluster.sh stop)"
}

# --- stop -----------------------------------------------------------------------------------------
stop_named() { # stop_named NAME...: SIGTERM the recorded processes of these names, then SIGKILL
  local name pid want i
  for want in "$@"; do
    while read -r name pid; do
      [[ "$name" == "$want" ]] && alive "$name" "$pid" && kill "$pid" 2>/dev/null && log "stopped $name ($pid)"
    done < <(recorded || true)
  done
  for i in $(seq 30); do
    local left=0
    for want in "$@"; do
      while read -r name pid; do [[ "$name" == "$want" ]] && alive "$name" "$pid" && left=1; done < <(recorded || true)
    done
    ((left)) || return 0
    sleep 0.2
  done
  for want in "$@"; do
    while read -r name pid; do
      [[ "$name" == "$want" ]] && alive "$name" "$pid" && kill -9 "$pid" 2>/dev/null && log "killed $name ($pid)"
    done < <(recorded || true)
  done
  return 0
}

do_stop() {
  local ids
  # Order: nothing may recreate or restart pods (controllers, scheduler, kubelet) while their
  # containers are removed; kube-proxy's rules stay until no pod is left to send to a Service address.
  stop_named kube-controller-manager kube-scheduler kubelet
  ids="$(docker ps -aq --filter 'name=^k8s_' 2>/dev/null || true)"
  if [[ -n "$ids" ]]; then
    # shellcheck disable=SC2086 # one id per word
    docker rm -f $ids >/dev/null 2>&1 || true
    log "removed $(echo "$ids" | wc -w) pod containers (k8s_*)"
  fi
  stop_named kube-proxy hairpin kube-apiserver etcd
  : >"$R/pids" 2>/dev/null || true
  # iptables chains of kube-proxy and kubelet (|| true: an empty grep is no error here)
  if [[ -x "$B/kube-proxy" ]]; then "$B/kube-proxy" --cleanup >/dev/null 2>&1 || true; fi
  local t rule c
  for t in nat filter mangle; do
    { iptables -t "$t" -S 2>/dev/null | grep -E '^-A .*KUBE-' | sed 's/^-A/-D/' || true; } | while read -r rule; do
      eval iptables -t "$t" "$rule" 2>/dev/null || true
    done
    for c in $(iptables -t "$t" -S 2>/dev/null | awk '/^-N KUBE-/{print $2}' || true); do iptables -t "$t" -F "$c" 2>/dev/null || true; done
    for c in $(iptables -t "$t" -S 2>/dev/null | awk '/^-N KUBE-/{print $2}' || true); do iptables -t "$t" -X "$c" 2>/dev/null || true; done
  done
  # kubelet mounts (secret/projected tmpfs) and state, empty kubepods cgroups
  { grep ' /var/lib/kubelet' /proc/mounts || true; } | awk '{print $2}' | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
  rm -rf /var/lib/kubelet /var/run/dockershim.sock
  for h in /sys/fs/cgroup/*/kubepods; do
    if [[ -d "$h" ]]; then find "$h" -depth -type d -exec rmdir {} \; 2>/dev/null || true; fi
  done
  # etcd data: the next start is a fresh cluster
  rm -rf "$R/etcd" "$R/kubelet-pki"
  if [[ -s "$K8S/sysctl.saved" ]]; then
    local s v
    while read -r s v; do echo "$v" >"/proc/sys/$s" 2>/dev/null || true; done <"$K8S/sysctl.saved"
    rm -f "$K8S/sysctl.saved"
    log "sysctls restored"
  fi
  log "stopped"
}

# --- status ---------------------------------------------------------------------------------------
do_status() {
  local name pid n
  n="$(count_alive)"
  if [[ ! -s "$R/pids" ]] || ((n == 0)); then
    echo "stopped"
    return 3
  fi
  while read -r name pid; do
    if alive "$name" "$pid"; then echo "$name $pid running"; else echo "$name $pid NOT running (log: $L/$name.log)"; fi
  done < <(recorded)
  if ((n == 7)) && api_ready && node_ready; then
    echo "running: node $NODE Ready; KUBECONFIG=$KUBECONFIG"
    return 0
  fi
  echo "half up ($n of 7 processes; apiserver $(api_ready && echo ready || echo 'not ready')); scripts/k8s-cluster.sh stop cleans up"
  return 1
}

cmd="${1:-}"
case "$cmd" in
  start | stop)
    mkdir -p "$R"
    # One start/stop at a time (several test sessions may share the cluster).
    exec 9>"$R/lock"
    flock -w 300 9 || die "another scripts/k8s-cluster.sh start/stop holds $R/lock"
    "do_$cmd"
    ;;
  status) do_status ;;
  -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" ;;
  *)
    echo "usage: scripts/k8s-cluster.sh start|stop|status" >&2
    exit 2
    ;;
esac

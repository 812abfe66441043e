#!/bin/sh
# /init of the `cargo xtask vm-test` initramfs (busybox sh). Starts the daemon as
# a host would, runs one MCP server under `mcp-monitor launch` that reads an SSH
# key and another process's environment and connects out, and reports on the
# serial console in `VMTEST key=value` lines that xtask/src/vm/report.rs reads.
# Whatever happens it ends in a power-off, so qemu exits.
export PATH=/bin
mount -t devtmpfs devtmpfs /dev
# The image has no /dev/console, so the kernel started us without stdio.
exec </dev/console >/dev/console 2>&1

OUT=/tmp/daemon.out # alerts and events, JSON lines
ERR=/tmp/daemon.err # the daemon's own messages
# READY_LIMIT_CS and ALERTS_LIMIT_CS: how long to wait for the daemon, then
# for the alerts (set in xtask/src/vm/mod.rs).
. /etc/vm-test/limits

marker() { echo "VMTEST $*"; }

finish() {
    sed 's/^/daemon| /' "$ERR" 2>/dev/null
    marker done
    sync
    poweroff -f
    exit 1 # poweroff failed: init exiting panics the kernel, and panic=-1 ends qemu
}

# Centiseconds since boot: busybox `date` only counts whole seconds.
uptime_cs() {
    read -r up _ </proc/uptime
    # "12.05" -> 12*100 + (105 - 100); the leading 1 stops "05" reading as octal.
    echo $((${up%.*} * 100 + 1${up#*.} - 100))
}

seconds() { printf '%d.%02d' $(($1 / 100)) $(($1 % 100)); }

mount_or_report() { # TYPE DIR
    mount -t "$1" "$1" "$2" || marker "mount_failed=$1"
}

report_kernel() {
    marker "kernel=$(uname -r)"
    marker "lsm=$(cat /sys/kernel/security/lsm 2>/dev/null)"
    marker "lockdown=$(cat /sys/kernel/security/lockdown 2>/dev/null)"
    if [ -e /sys/kernel/btf/vmlinux ]; then marker btf=yes; else marker btf=no; fi
}

plant_bait() {
    mkdir -p /root/.ssh /etc
    printf '%s\n' '-----BEGIN OPENSSH PRIVATE KEY-----' \
        'not a key: bait for the SSH-key rule' \
        '-----END OPENSSH PRIVATE KEY-----' >/root/.ssh/id_rsa
    chmod 600 /root/.ssh/id_rsa
    echo 'root:x:0:0:root:/root:/bin/sh' >/etc/passwd
}

# Starts the daemon (with extra arguments) and waits for its "watching" line;
# prints how long it took.
start_daemon() {
    start=$(uptime_cs)
    # Emptied here, not by the background job's redirection, which may come
    # after the first look for the ready line (a second start would then
    # read the first daemon's).
    : >"$OUT"
    : >"$ERR"
    mcp-monitor run -o json --events "$@" >"$OUT" 2>"$ERR" &
    daemon=$!
    while [ $(($(uptime_cs) - start)) -lt $READY_LIMIT_CS ]; do
        if grep -q 'mcp-monitor: watching' "$ERR"; then
            marker "ready_s=$(seconds $(($(uptime_cs) - start)))"
            return 0
        fi
        if ! kill -0 "$daemon" 2>/dev/null; then
            marker ready=exited
            return 1
        fi
        sleep 0.1
    done
    marker ready=timeout
    return 1
}

report_verifier() {
    insns=$(sed -n 's/.*verifier: \([0-9][0-9, ]*\) instructions.*/\1/p' "$ERR" | head -n 1 | tr -d ', ')
    marker "verified_insns=${insns:-n/a}"
}

alerted() { grep -qF "\"rule\":\"$1\"" "$OUT"; }
connected() { grep -q '"evt.type":"connect"' "$OUT"; }

# Every rule the host expects (one per line in /etc/vm-test/alerts) and a connect.
all_seen() {
    while read -r rule; do
        alerted "$rule" || return 1
    done </etc/vm-test/alerts
    connected
}

run_smoke_server() {
    # A listener, so the connect completes rather than being refused.
    nc -l -p 9 </dev/null >/dev/null 2>&1 &
    timeout 30 mcp-monitor launch --name smoke -- sh -c \
        'cat /root/.ssh/id_rsa >/dev/null; cat /proc/1/environ >/dev/null; nc 127.0.0.1 9 </dev/null; true'
    deadline=$(($(uptime_cs) + ALERTS_LIMIT_CS))
    until all_seen || [ "$(uptime_cs)" -ge $deadline ]; do sleep 0.1; done
    sed -n 's/.*"rule":"\([^"]*\)".*/\1/p' "$OUT" | sort -u | while read -r rule; do
        marker "alert=$rule"
    done
    if connected; then marker connect=yes; else marker connect=no; fi
}

# Prevent mode: the SSH-key rule set to deny, enforced. Where BPF LSM runs the
# read fails with EPERM and the server goes on; elsewhere the probe kills the
# reader at the open. Either way no byte of the key may reach its output.
run_prevent_check() {
    cat >/etc/vm-test/deny.yaml <<'RULES'
- rule: MCP server read SSH keys or configuration
  action: deny
  override:
    action: replace
RULES
    if ! start_daemon --enforce --rules /etc/vm-test/deny.yaml; then
        marker prevent=not_ready
        return
    fi
    if grep -q 'connects cannot be refused in the kernel' "$ERR"; then
        marker connect_hook=no
    else
        marker connect_hook=yes
    fi
    timeout 30 mcp-monitor launch --name guard -- sh -c \
        'cat /root/.ssh/id_rsa; echo "read_status=$?"; echo server-still-running' \
        >/tmp/guard.out 2>&1
    deadline=$(($(uptime_cs) + ALERTS_LIMIT_CS))
    until grep -q '"action.result"' "$OUT" || [ "$(uptime_cs)" -ge $deadline ]; do sleep 0.1; done
    sed 's/^/guard| /' /tmp/guard.out
    if grep -q 'bait for the SSH-key rule' /tmp/guard.out; then
        marker prevent=leaked
    elif grep -q '"action.result":"denied"' "$OUT" && grep -q 'server-still-running' /tmp/guard.out; then
        marker prevent=denied
    elif grep -q '"action.result":"killed"' "$OUT"; then
        marker prevent=killed
    else
        marker prevent=none
    fi
    stop_daemon
}

stop_daemon() {
    kill -TERM "$daemon"
    i=0
    while kill -0 "$daemon" 2>/dev/null && [ $i -lt 100 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    if kill -0 "$daemon" 2>/dev/null; then
        marker daemon_exit=hung
    else
        wait "$daemon"
        marker "daemon_exit=$?"
    fi
}

mount_or_report proc /proc
mount_or_report sysfs /sys
mount_or_report tracefs /sys/kernel/tracing
mount_or_report bpf /sys/fs/bpf
mount_or_report cgroup2 /sys/fs/cgroup
mount_or_report securityfs /sys/kernel/security
ip link set lo up
report_kernel
plant_bait

mcp-monitor doctor 2>&1 | sed 's/^/doctor| /'

# The daemon's last `mcp-monitor: ` line: its fatal error if it exited (a
# verifier log may follow that line), how far it got if it is still loading.
daemon_said() {
    grep '^mcp-monitor: ' "$ERR" | tail -n 1 | grep . || grep -v '^[[:space:]]*$' "$ERR" | tail -n 1
}

if ! start_daemon; then
    marker "daemon_said=$(daemon_said)"
    finish
fi
report_verifier
run_smoke_server
stop_daemon
run_prevent_check
finish

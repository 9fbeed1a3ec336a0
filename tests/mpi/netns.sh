#!/bin/sh
# mpi.netns: the map case with its ranks on two "hosts": network namespaces on this
# machine joined by a veth pair, TCP only (--mca btl self,tcp). mpirun runs in the first
# (ranks 0-1 there); it starts the second host's daemon (ranks 2-3) through a launch agent
# that enters that namespace, as ssh would log in to another machine.
# Usage: netns.sh TEST_MPI. Exits 77 (skipped) with the reason where namespaces cannot
# be made.
self=$1
skip() { echo "netns: skipped: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "not root (ip netns needs CAP_SYS_ADMIN and CAP_NET_ADMIN)"
command -v ip >/dev/null 2>&1 || skip "no ip command (iproute2)"
A=weftmpiA$$
B=weftmpiB$$
tmp=$(mktemp -d)
cleanup() {
    ip netns del "$A" 2>/dev/null
    ip netns del "$B" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
ip netns add "$A" 2>"$tmp/err" || skip "ip netns add failed: $(cat "$tmp/err")"
ip netns add "$B" 2>"$tmp/err" || skip "ip netns add failed: $(cat "$tmp/err")"
ip link add "va$$" type veth peer name "vb$$" 2>"$tmp/err" || skip "no veth: $(cat "$tmp/err")"
ip link set "va$$" netns "$A" && ip link set "vb$$" netns "$B" &&
    ip -n "$A" addr add 10.199.0.1/24 dev "va$$" && ip -n "$B" addr add 10.199.0.2/24 dev "vb$$" &&
    ip -n "$A" link set "va$$" up && ip -n "$B" link set "vb$$" up &&
    ip -n "$A" link set lo up && ip -n "$B" link set lo up || skip "cannot configure the veth pair"

# The launch agent: called as `agent [options] HOST COMMAND...` like ssh.
cat >"$tmp/agent" <<AGENT
#!/bin/sh
while [ "\${1#-}" != "\$1" ]; do shift; done
host=\$1
shift
case \$host in
10.199.0.1) ns=$A ;;
10.199.0.2) ns=$B ;;
*) echo "agent: unknown host \$host" >&2; exit 1 ;;
esac
exec ip netns exec \$ns sh -c "\$*"
AGENT
chmod +x "$tmp/agent"
printf '10.199.0.1 slots=2\n10.199.0.2 slots=2\n' >"$tmp/hosts"

echo "netns: hosts $A (10.199.0.1, mpirun, ranks 0-1) and $B (10.199.0.2, ranks 2-3)"
OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
    ip netns exec "$A" mpirun --oversubscribe -n 4 --bind-to none --hostfile "$tmp/hosts" \
    --mca plm_rsh_agent "$tmp/agent" --mca btl self,tcp \
    --mca btl_tcp_if_include 10.199.0.0/24 --mca oob_tcp_if_include 10.199.0.0/24 \
    "$self" --rank netns

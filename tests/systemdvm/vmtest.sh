#!/bin/bash
# vmtest.sh: the checks of the systemd test VM (see vm_test.go), run as
# saturn-vmtest.service with systemd as PID 1. It installs saturn with
# dist/install.sh from the second disk, runs the sample units and reports
# on the serial console: "SATURN-VM check NAME ok" or "... FAIL WHY",
# finally "SATURN-VM done N" (N checks failed).
set -u
T=/opt/saturn-test
failed=0

say() { echo "SATURN-VM $*"; }
ok() { say "check $1 ok"; }
bad() {
	local name=$1
	shift
	say "check $name FAIL $(echo "$*" | tr '\n' ' ' | cut -c1-400)"
	failed=$((failed + 1))
}
# check NAME CMD...: CMD must succeed.
check() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then ok "$name"; else bad "$name" "$out"; fi
}
# eventually SECONDS CMD...: CMD succeeds within SECONDS (a hang guard:
# what it waits for is a state, not a time).
eventually() {
	local end=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		((SECONDS < end)) || return 1
		sleep 0.2
	done
}
prop() { systemctl show -p "$2" --value "$1"; }
# get PORT: the body of an HTTP GET / on 127.0.0.1:PORT.
get() {
	exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
	printf 'GET / HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
	timeout 60 cat <&3
	exec 3<&-
}
export -f get
machine_of() { machinectl list --no-legend 2>/dev/null | awk '/^saturn-/ {print $1; exit}'; }
stopped_clean() {
	local unit=$1 machine=$2
	[[ $(prop "$unit" Result) == success ]] || { echo "Result=$(prop "$unit" Result)"; return 1; }
	[[ $(prop "$unit" ExecMainStatus) == 0 ]] || { echo "ExecMainStatus=$(prop "$unit" ExecMainStatus)"; return 1; }
	[[ ! -e /sys/fs/cgroup/machine.slice/$machine.scope ]] || { echo "cgroup $machine.scope left"; return 1; }
	local scopes
	scopes=$(systemctl list-units --all --no-legend "$machine.scope")
	[[ -z $scopes ]] || { echo "unit left: $scopes"; return 1; }
	! machinectl list --no-legend | grep -q "^$machine " || { echo "machine $machine still registered"; return 1; }
}

say "uptime $(cut -d' ' -f1 /proc/uptime)"
check install env BUILD=$T/build bash $T/dist/install.sh

# Type=notify: active only once the app said READY=1, which it does
# after its two-second start; its lines in the journal; its machine.
unit=saturn-example-notify.service
check notify-start systemctl start $unit
check notify-active test "$(systemctl is-active $unit)" = active
if eventually 60 sh -c 'journalctl -t notify-example -o cat | grep -q "ready monotonic="'; then
	ready=$(journalctl -t notify-example -o cat | sed -n 's/.*ready monotonic=\([0-9]*\).*/\1/p' | tail -n1)
	active=$(prop $unit ActiveEnterTimestampMonotonic)
	started=$(prop $unit ExecMainStartTimestampMonotonic)
	if ((active >= ready && ready > started)); then ok notify-ready-first; else
		bad notify-ready-first "started $started, app ready $ready, unit active $active (usec)"
	fi
	ok journal-identifier
else
	bad journal-identifier "journalctl -t notify-example finds nothing: $(journalctl -b -o cat | tail -n 20)"
fi
check journal-unit sh -c "journalctl -u $unit -o cat | grep -q 'ready monotonic='"
check answers-8081 bash -c "get 8081 | grep -q 'hello from notify-example'"
machine=$(machine_of)
if [[ -n $machine ]]; then
	ok machinectl-list
	check machine-unit test "$(machinectl show "$machine" -p Unit --value)" = "$machine.scope"
	check machine-class test "$(machinectl show "$machine" -p Class --value)" = container
	check journal-container sh -c "journalctl CONTAINER_NAME=$machine -o cat | grep -q 'ready monotonic='"
	check pod-scope-cgroup test -d "/sys/fs/cgroup/machine.slice/$machine.scope"
else
	bad machinectl-list "no saturn machine: $(machinectl list 2>&1)"
fi
check notify-stop systemctl stop $unit
check notify-stopped-clean stopped_clean $unit "${machine:-none}"

# Socket activation: the pod starts at the first connection and its app
# answers through fd 3.
check socket-start systemctl start saturn-example-socket.socket
check socket-not-yet test "$(systemctl is-active saturn-example-socket.service)" != active
check answers-8082 bash -c "get 8082 | grep -q 'hello from socket-example'"
check socket-service-active test "$(systemctl is-active saturn-example-socket.service)" = active
machine=$(machine_of)
check socket-stop systemctl stop saturn-example-socket.service saturn-example-socket.socket
check socket-stopped-clean stopped_clean saturn-example-socket.service "${machine:-none}"

# A plain pod.
unit=saturn-example.service
check plain-start systemctl start $unit
check plain-answers eventually 120 bash -c "get 8080 | grep -q '^HTTP/1'"
machine=$(machine_of)
check plain-stop systemctl stop $unit
check plain-stopped-clean stopped_clean $unit "${machine:-none}"

# The group model on a real system: install.sh made the group saturn.
check group-users sh -c 'useradd -m -G saturn member && useradd -m outsider'
check member-list runuser -u member -- saturn list
check member-image-list runuser -u member -- saturn image list
check member-fetch runuser -u member -- saturn fetch --insecure-options=image /usr/lib/saturn/images/testapp.aci
check outsider-refused sh -c '! runuser -u outsider -- saturn list'

check gc-service systemctl start saturn-gc.service
check gc-timer systemctl enable --now saturn-gc.timer
# Nothing went wrong on the way that the pods only warned about (machined
# or the journal refusing, a relay failing).
check no-warnings sh -c '! journalctl -b -o cat | grep "stage1: warning"'

if ((failed > 0)); then
	systemctl list-units --failed --no-legend | sed 's/^/SATURN-VM failed-unit /'
	journalctl -b --no-pager -o short-monotonic | tail -n 80 | sed 's/^/SATURN-VM log /'
fi
say "uptime $(cut -d' ' -f1 /proc/uptime)"
say "done $failed"

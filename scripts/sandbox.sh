# Sourced by demo.sh and report-check.sh. `start_sandbox DIR [FLAGS...]` starts `$bin sandbox` on
# a free port with FLAGS, its URL and log in DIR, waits until it listens, exports ROSTER_BASE_URL,
# and stops it when the script exits (then runs `$on_exit`, if the script set one).
start_sandbox() {
  local dir=$1
  shift
  "$bin" sandbox --listen 127.0.0.1:0 "$@" >"$dir/sandbox.url" 2>"$dir/sandbox.log" &
  sandbox_pid=$!
  trap 'kill "$sandbox_pid" 2>/dev/null; wait "$sandbox_pid" 2>/dev/null || true; eval "${on_exit:-}"' EXIT
  for _ in $(seq 100); do
    [ -s "$dir/sandbox.url" ] && break
    kill -0 "$sandbox_pid" 2>/dev/null || { cat "$dir/sandbox.log" >&2; exit 2; }
    sleep 0.05
  done
  [ -s "$dir/sandbox.url" ] || { echo "the sandbox did not start listening within 5 s" >&2; exit 2; }
  ROSTER_BASE_URL=$(head -n 1 "$dir/sandbox.url")
  export ROSTER_BASE_URL
}

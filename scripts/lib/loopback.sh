# shellcheck shell=bash
# Helpers for the servers that scripts/ and bench/ start on loopback (s3rver,
# redis-server). Sourced, not run.

# Where scripts/setup.sh installs the npm test tools (s3rver):
# $SHOAL_TEST_TOOLS, else /opt/shoal-test-tools for root, else
# ~/.cache/shoal-test-tools.
test_tools_dir() {
  if [[ -n "${SHOAL_TEST_TOOLS:-}" ]]; then
    echo "$SHOAL_TEST_TOOLS"
  elif [[ $(id -u) -eq 0 ]]; then
    echo /opt/shoal-test-tools
  else
    echo "$HOME/.cache/shoal-test-tools"
  fi
}

# A TCP port on 127.0.0.1 that nothing listens on now. A server may still
# lose it to another process before it binds; callers try again.
free_port() {
  local port tries
  for ((tries = 0; tries < 50; tries++)); do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  return 1
}

# Whether an HTTP server answers on 127.0.0.1:$1.
http_answers() {
  (
    local line=""
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf 'GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
    IFS= read -r -t 2 line <&3 || true
    [[ "$line" == HTTP/* ]]
  ) 2>/dev/null
}

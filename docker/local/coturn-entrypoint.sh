#!/bin/bash
# As the official coturn/coturn image starts: arguments that begin with `-` are turnserver's, and
# each argument goes through the shell once (so `$(...)` in one works there, and so secrets must
# not contain shell characters: the compose file's TURN_SHARED_SECRET is letters and digits).
if [ "${1:0:1}" = - ]; then
  set -- turnserver "$@"
fi
args=()
for arg in "$@"; do
  args+=("$(eval "echo $arg")")
done
exec "${args[@]}"

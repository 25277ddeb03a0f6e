# `dstack` run as a program: tui/bin.js's first line finds the real path of the bin (f) and
# sources this file (POSIX sh: dash, bash, busybox).
# 1. A resident client that runs (tui/resident.cjs, ~/.dstack/resident/pid) is asked to run the
#    command: no Node starts. It answers "decline" for what it does not run, "run" and then
#    "exit CODE" for what it ran; its end while it runs one (a watcher reads its life FIFO, which
#    ends with it) is reported. DSTACK_RESIDENT=0 never asks one.
# 2. Otherwise Node starts on tui/start.cjs, the CommonJS launcher (no ES module loader),
#    without NODE_EXTRA_CA_CERTS, whose certificates Node 20 parses at every start (~45 ms
#    here) while the client only speaks over a Unix socket; start.cjs puts the variable back.
#    Where none runs, DSTACK_RESIDENT_START tells start.cjs where to start one, should the
#    command be one it runs.
# Only commands a resident may run are offered to it (what it would decline costs the round trip):
# ps, logs and event, and whatever is detached (-d, --detach, or -d in a cluster such as -yd).
_r=
for _a in "$@"; do
  case $_a in ps|logs|event|-d|--detach) _r=1; break ;; --*) ;; -*d*) _r=1; break ;; esac
done
if [ -n "$_r" ] && [ "${DSTACK_RESIDENT-}" != 0 ] && [ -n "${HOME-}" ]; then
  _q=$HOME/.dstack/resident
  # 22nd field of /proc/PID/stat: the start time that DIR/pid names with the PID.
  _started () { [ "${22-}" = "$_t" ]; }
  if read -r _p _t 2>/dev/null < "$_q/pid" && [ -p "$_q/$_p/in" ] && read -r _s 2>/dev/null < "/proc/$_p/stat" && _started $_s; then
    _o=$_q/reply.$$
    # (What a launcher of the same PID left, killed before it could remove them, is removed.)
    if mkfifo -m 600 "$_o" "$_o.1" "$_o.2" 2>/dev/null || { rm -f "$_o" "$_o.1" "$_o.2"; mkfifo -m 600 "$_o" "$_o.1" "$_o.2" 2>/dev/null; }; then
      exec 3<>"$_o"
      ( read -r _x < "$_q/$_p/life"; echo gone >&3 ) </dev/null >/dev/null 2>&1 &
      _w=$!
      # Background jobs of a script ignore Ctrl+C: the watcher goes with the launcher.
      trap 'kill "$_w" 2>/dev/null; exit 130' INT
      trap 'kill "$_w" 2>/dev/null; exit 143' TERM
      trap 'kill "$_w" 2>/dev/null; exit 129' HUP
      echo "$$ $_o" 1<>"$_q/$_p/in"
      read -r _a <&3
      case $_a in
        run*)
          # "run", then the streams it cannot open itself (a socket, a file written from an
          # offset): copied here from REPLY.1 and REPLY.2.
          case $_a in *1*) cat "$_o.1" & ;; esac
          case $_a in *2*) cat "$_o.2" >&2 & ;; esac
          read -r _a <&3
          kill "$_w" 2>/dev/null
          wait
          case $_a in "exit "*) exit "${_a#exit }" ;; esac
          echo "dstack: the resident client ($_q) ended while it ran the command" >&2
          exit 1 ;;
      esac
      kill "$_w" 2>/dev/null
      trap - INT TERM HUP
      exec 3>&-
      rm -f "$_o" "$_o.1" "$_o.2" 2>/dev/null
      # Declined ("gone": it ended): it runs, or will start again, without being asked to here.
      [ "$_a" = decline ] && _q=
    fi
  fi
  if [ -n "$_q" ]; then
    DSTACK_RESIDENT_START=$_q
    export DSTACK_RESIDENT_START
  fi
fi
if [ -n "${NODE_EXTRA_CA_CERTS-}" ]; then
  DSTACK_NODE_EXTRA_CA_CERTS=$NODE_EXTRA_CA_CERTS
  export DSTACK_NODE_EXTRA_CA_CERTS
  unset NODE_EXTRA_CA_CERTS
fi
exec node "${f%/*}/start.cjs" "$@"

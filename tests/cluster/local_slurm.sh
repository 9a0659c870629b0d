#!/usr/bin/env bash
# A real one-node SLURM cluster on loopback, for tests (recipe: ../shared/docs/local-slurm.md).
#
#   tests/cluster/local_slurm.sh start    # as root
#   tests/cluster/local_slurm.sh stop
#
# start: writes /etc/slurm/slurm.conf and gres.conf (placeholder GPUs: a job that asks for one gets
#        CUDA_VISIBLE_DEVICES=<i> with no device behind it; refuses to replace a configuration it did
#        not write), wipes the spool dirs, starts munged (unless one already runs), slurmctld and
#        slurmd, and waits until the node is idle. State, logs and pid files live in $LOCAL_SLURM_DIR.
#        (The configuration must be at the default path: the executor plugin drops SLURM_* variables,
#        SLURM_CONF included, before its nested srun inside each job.)
# stop:  cancels the cluster's jobs, stops the daemons by the PIDs in their pid files (never by
#        name), waits for the pid files to vanish, and removes the configuration it wrote. munged is
#        stopped only if `start` started it.
#
# Installs nothing: `apt-get install --no-install-recommends slurm-wlm munge` (.ci/run does).
# Settings (environment):
#   LOCAL_SLURM_DIR      state, logs, pid files and placeholder devices (default /tmp/advrepro-slurm)
#   LOCAL_SLURM_GPUS     placeholder GPUs on the node (default 1)
#   LOCAL_SLURM_CPUS, LOCAL_SLURM_MEM_MB   the node's size (default: this machine's cores, and its
#                        available memory less 1 GiB); larger values make slurmd trust slurm.conf
#                        (config_overrides), so more jobs overlap than the machine has cores for
#   LOCAL_SLURM_TIMEOUT  seconds to wait for the node to be idle / for a daemon to stop (default 60)
set -euo pipefail

DIR=${LOCAL_SLURM_DIR:-/tmp/advrepro-slurm}
GPUS=${LOCAL_SLURM_GPUS:-1}
TIMEOUT=${LOCAL_SLURM_TIMEOUT:-60}
MUNGE_PID=/run/munge/munged.pid
CONF_DIR=/etc/slurm
MARKER="# Written by tests/cluster/local_slurm.sh"

die() { echo "local_slurm: $*" >&2; exit 1; }

alive() { [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# stop_pidfile NAME PIDFILE: SIGTERM the PID in PIDFILE, wait for the file to vanish (SIGKILL at the end).
stop_pidfile() {
  local name=$1 pidfile=$2 pid
  [[ -s $pidfile ]] || return 0
  pid=$(cat "$pidfile")
  kill -TERM "$pid" 2>/dev/null || { rm -f "$pidfile"; return 0; }  # stale file: nothing runs
  for _ in $(seq $((TIMEOUT * 5))); do
    [[ -e $pidfile ]] || return 0
    kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; return 0; }
    sleep 0.2
  done
  echo "local_slurm: $name (pid $pid) did not stop in ${TIMEOUT}s; killing it" >&2
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}

write_conf() {
  local cpus mem_mb hw_cpus hw_mem_mb gres_line="" overrides=""
  hw_cpus=$(nproc)
  hw_mem_mb=$(( $(awk '/^MemAvailable:/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
  cpus=${LOCAL_SLURM_CPUS:-$hw_cpus}
  mem_mb=${LOCAL_SLURM_MEM_MB:-$hw_mem_mb}
  (( mem_mb > 0 )) || die "not enough free memory for a node"
  # A node larger than the machine (for throughput in tests): slurmd must trust slurm.conf.
  if (( cpus > hw_cpus || mem_mb > hw_mem_mb )); then overrides="SlurmdParameters=config_overrides"; fi
  for f in slurm.conf gres.conf; do
    if [[ -e $CONF_DIR/$f ]] && ! grep -qF "$MARKER" "$CONF_DIR/$f"; then
      die "$CONF_DIR/$f exists and was not written by this script: not replacing it"
    fi
  done
  mkdir -p "$DIR" "$CONF_DIR"
  echo "$MARKER" > "$CONF_DIR/gres.conf"
  if (( GPUS > 0 )); then
    # Placeholder GPUs: SLURM only needs a device file per GPU to hand out (and sets
    # CUDA_VISIBLE_DEVICES for the job); these all point at /dev/null.
    rm -rf "$DIR/dev" && mkdir -p "$DIR/dev"
    for ((i = 0; i < GPUS; i++)); do ln -s /dev/null "$DIR/dev/gpu$i"; done
    echo "NodeName=localhost Name=gpu File=$DIR/dev/gpu[0-$((GPUS - 1))]" >> "$CONF_DIR/gres.conf"
    gres_line=" Gres=gpu:$GPUS"
  fi
  cat > "$CONF_DIR/slurm.conf" <<EOF
$MARKER: one node on loopback, no accounting database.
ClusterName=advreprolocal
SlurmctldHost=localhost
SlurmctldPort=${LOCAL_SLURM_CTLD_PORT:-6817}
SlurmdPort=${LOCAL_SLURM_D_PORT:-6818}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
ReturnToService=2
MinJobAge=3600
$overrides
GresTypes=gpu
StateSaveLocation=$DIR/spool/slurmctld
SlurmdSpoolDir=$DIR/spool/slurmd
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb$gres_line State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
}

start() {
  [[ $(id -u) == 0 ]] || die "must run as root (slurmd runs jobs as their users)"
  for cmd in munged munge unmunge slurmctld slurmd sinfo sbatch; do
    command -v "$cmd" >/dev/null || [[ -x /usr/sbin/$cmd ]] || die "$cmd not found: apt-get install slurm-wlm munge"
  done
  if alive "$DIR/slurmctld.pid" || alive "$DIR/slurmd.pid"; then die "already running in $DIR (stop it first)"; fi
  write_conf
  # Stale state survives restarts: start from empty spool dirs.
  rm -rf "$DIR/spool" "$DIR/log"
  mkdir -p "$DIR/spool/slurmctld" "$DIR/spool/slurmd" "$DIR/log"

  if alive "$MUNGE_PID"; then
    rm -f "$DIR/munged.ours"
  else
    [[ -s /etc/munge/munge.key ]] || mungekey --create
    install -d -o munge -g munge -m 0755 /run/munge
    rm -f "$MUNGE_PID"
    runuser -u munge -- /usr/sbin/munged
    touch "$DIR/munged.ours"
  fi
  munge -n | unmunge >/dev/null || die "munge does not work"

  /usr/sbin/slurmctld
  /usr/sbin/slurmd -N localhost
  local state=""
  for _ in $(seq $((TIMEOUT * 2))); do
    state=$(sinfo -h -o %T 2>/dev/null || true)
    [[ $state == idle ]] && break
    sleep 0.5
  done
  if [[ $state != idle ]]; then
    tail -n 20 "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log" >&2 || true
    stop
    die "node not idle after ${TIMEOUT}s (state: '${state:-none}')"
  fi
  echo "local_slurm: node localhost idle (state and logs in $DIR)"
}

stop() {
  if alive "$DIR/slurmctld.pid"; then
    local jobs
    jobs=$(squeue -h -o %i 2>/dev/null || true)
    if [[ -n $jobs ]]; then
      scancel $jobs 2>/dev/null || true
      for _ in $(seq $((TIMEOUT * 2))); do
        [[ -z $(squeue -h -o %i 2>/dev/null) ]] && break
        sleep 0.5
      done
    fi
  fi
  stop_pidfile slurmd "$DIR/slurmd.pid"
  stop_pidfile slurmctld "$DIR/slurmctld.pid"
  if [[ -e $DIR/munged.ours ]]; then
    stop_pidfile munged "$MUNGE_PID"
    rm -f "$DIR/munged.ours"
  fi
  for f in slurm.conf gres.conf; do
    if [[ -e $CONF_DIR/$f ]] && grep -qF "$MARKER" "$CONF_DIR/$f"; then rm -f "$CONF_DIR/$f"; fi
  done
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  *) die "usage: $0 start|stop" ;;
esac

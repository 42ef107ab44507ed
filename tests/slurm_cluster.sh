# A throwaway one-node Slurm cluster (munged + slurmctld + slurmd, 2 CPUs) in a temp folder, for
# the tests and the benchmark of `reel run --executor slurm`. Source it, then:
#   slurm_cluster_start DIR   writes DIR/slurm.conf, starts the daemons, exports SLURM_CONF and
#                             waits until the node is idle; returns 77 (reason on stderr) when
#                             the packages are missing or the daemons cannot start here
#   slurm_cluster_stop DIR    stops the daemons (safe to call twice, and from a trap)
# SLURM_CLUSTER_EXTRA (lines) is appended to slurm.conf, e.g. to try other settings;
# SLURM_CLUSTER_EPILOG=0 leaves the Epilog out (to see what it changes).
# cred_expire is short so that a requeued job starts again after 10 s, not 2 minutes (a test
# setting); the scheduler settings are what a site running many short jobs would set (see
# docs/cluster.md).
# Accounting is off (no slurmdbd): job outcomes come from squeue/scontrol while the controller
# remembers them (MinJobAge) and from the cache, so sacct is not needed.

slurm_cluster_start() {
  local d=$1
  local p
  for p in munged slurmctld slurmd sbatch squeue scancel scontrol sinfo; do
    if ! command -v "$p" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$p" ]; then
      echo "slurm_cluster: $p is not installed (Debian packages slurm-wlm and munge)" >&2
      return 77
    fi
  done
  if [ "$(id -u)" -ne 0 ]; then
    echo "slurm_cluster: the daemons run as root here, and this is not root" >&2
    return 77
  fi
  mkdir -p "$d/state" "$d/spool" "$d/munge"
  chmod 700 "$d/munge"
  dd if=/dev/urandom of="$d/munge/munge.key" bs=1024 count=1 status=none
  chmod 400 "$d/munge/munge.key"
  local host base mem
  host=$(hostname -s)
  # memory the node offers (MiB): most of what the machine has, so that jobs asking for --mem
  # (plugins declare it) are accepted; slurmd drains a node that claims more than it has
  mem=$(awk '/^MemTotal:/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
  # ports from the pid so that two test runs on one machine do not meet
  base=$((20000 + ($$ % 20000)))
  # A site's epilog (cleaning /tmp, resetting GPUs...) stands here as one that does nothing. It
  # matters for timing: slurmd reports a job's end to the controller with "epilog complete"
  # only when an Epilog is set, and that report is what makes the controller start the next
  # pending job at once; without it the job waits for the next periodic scheduling pass
  # (sched_interval, 60 s by default), as seen with Slurm 22.05.
  printf '#!/bin/sh\nexit 0\n' >"$d/epilog"
  chmod 755 "$d/epilog"
  cat > "$d/slurm.conf" <<CONF
ClusterName=reeltest
SlurmctldHost=$host
SlurmctldPort=$base
SlurmdPort=$((base + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$d/munge/munge.socket,cred_expire=10
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool
SlurmctldPidFile=$d/slurmctld.pid
SlurmdPidFile=$d/slurmd.pid
SlurmctldLogFile=$d/slurmctld.log
SlurmdLogFile=$d/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$d/jobcomp.txt
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerParameters=batch_sched_delay=1
$([ "${SLURM_CLUSTER_EPILOG:-1}" = 0 ] || echo "Epilog=$d/epilog")
ReturnToService=2
MpiDefault=none
SwitchType=switch/none
MinJobAge=600
SlurmdTimeout=30
InactiveLimit=0
KillWait=2
NodeName=$host CPUs=2 RealMemory=$mem State=UNKNOWN
PartitionName=reel Nodes=$host Default=YES MaxTime=INFINITE State=UP
${SLURM_CLUSTER_EXTRA:-}
CONF
  export SLURM_CONF=$d/slurm.conf
  /usr/sbin/munged --socket="$d/munge/munge.socket" --key-file="$d/munge/munge.key" \
    --pid-file="$d/munge/munged.pid" --log-file="$d/munge/munged.log" \
    --seed-file="$d/munge/munge.seed" --force >"$d/munged.out" 2>&1 || {
    echo "slurm_cluster: munged cannot start here: $(tail -3 "$d/munged.out" "$d/munge/munged.log" 2>/dev/null)" >&2
    return 77
  }
  /usr/sbin/slurmctld -f "$d/slurm.conf" >"$d/slurmctld.out" 2>&1 || {
    echo "slurm_cluster: slurmctld cannot start here: $(tail -3 "$d/slurmctld.out" "$d/slurmctld.log" 2>/dev/null)" >&2
    return 77
  }
  /usr/sbin/slurmd -f "$d/slurm.conf" >"$d/slurmd.out" 2>&1 || {
    echo "slurm_cluster: slurmd cannot start here: $(tail -3 "$d/slurmd.out" "$d/slurmd.log" 2>/dev/null)" >&2
    return 77
  }
  local i
  for i in $(seq 1 60); do
    if sinfo -h -N -o '%T' 2>/dev/null | grep -qx 'idle'; then return 0; fi
    sleep 0.5
  done
  echo "slurm_cluster: the node never became idle: $(sinfo -N 2>&1 | tail -2); $(tail -3 "$d/slurmd.log" "$d/slurmctld.log" 2>/dev/null)" >&2
  return 77
}

slurm_cluster_stop() {
  local d=$1 f pid
  for f in slurmd.pid slurmctld.pid munge/munged.pid; do
    [ -f "$d/$f" ] || continue
    pid=$(cat "$d/$f" 2>/dev/null) || continue
    [ -n "$pid" ] && kill "$pid" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null
    rm -f "$d/$f"
  done
  return 0
}

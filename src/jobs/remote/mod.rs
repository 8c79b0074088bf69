//! Training on another machine: a host over SSH (rsync there, `univa train` over one ssh
//! session, the run folder copied back) and Slurm, here or through a login node (a generated
//! sbatch script, Slurm's states, sweeps as job arrays). Each remote job is followed by a worker
//! thread that reports like a local trainer.

pub mod slurm;
pub mod ssh;

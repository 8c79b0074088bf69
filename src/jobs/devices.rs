//! The devices a job can train on: the CPU, and each CUDA GPU when this build has CUDA.
//!
//! GPUs are listed with `nvidia-smi` (name and memory), which needs no CUDA code in this build,
//! so a CPU build can still say that a GPU is there and what it would take to use it.

use std::process::Command;
use std::sync::mpsc::{Receiver, sync_channel};

/// One GPU as the driver reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GpuInfo {
    pub index: usize,
    pub name: String,
    pub memory_mib: u64,
}

/// One entry of the device selector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceChoice {
    /// What `univa train --device` takes: `cpu` or `cuda:N`.
    pub spec: String,
    pub label: String,
}

/// Whether this build was compiled with the `cuda` feature.
pub fn cuda_built() -> bool {
    cfg!(feature = "cuda")
}

/// The CPU, then each GPU if this build can use it.
pub fn choices(gpus: &[GpuInfo]) -> Vec<DeviceChoice> {
    let mut choices = vec![DeviceChoice { spec: "cpu".to_owned(), label: "CPU".to_owned() }];
    if cuda_built() {
        choices.extend(gpus.iter().map(|g| DeviceChoice {
            spec: format!("cuda:{}", g.index),
            label: format!("cuda:{} — {} ({:.1} GiB)", g.index, g.name, g.memory_mib as f64 / 1024.0),
        }));
    }
    choices
}

/// The GPUs `nvidia-smi` lists; none when it is missing or fails.
pub fn list_gpus() -> Vec<GpuInfo> {
    let output = Command::new("nvidia-smi")
        .args(["--query-gpu=index,name,memory.total", "--format=csv,noheader,nounits"])
        .output();
    match output {
        Ok(output) if output.status.success() => parse_nvidia_smi(&String::from_utf8_lossy(&output.stdout)),
        _ => Vec::new(),
    }
}

/// Lists the GPUs on a named thread (the driver can take a second to answer); the answer
/// arrives once on the returned channel.
pub fn probe() -> std::io::Result<Receiver<Vec<GpuInfo>>> {
    let (tx, rx) = sync_channel(1);
    std::thread::Builder::new().name("univa-gpu-probe".to_owned()).spawn(move || {
        let _ = tx.send(list_gpus());
    })?;
    Ok(rx)
}

/// `index, name, memory MiB` lines of `nvidia-smi --format=csv,noheader,nounits`.
pub fn parse_nvidia_smi(text: &str) -> Vec<GpuInfo> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.split(',').map(str::trim);
            let index = parts.next()?.parse().ok()?;
            let name = parts.next()?.to_owned();
            let memory_mib = parts.next()?.parse().ok()?;
            Some(GpuInfo { index, name, memory_mib })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nvidia_smi_lines() {
        let gpus = parse_nvidia_smi("0, NVIDIA H200, 143771\n1, NVIDIA A100-SXM4-40GB, 40960\nnot a line\n");
        assert_eq!(gpus.len(), 2);
        assert_eq!(gpus[1], GpuInfo { index: 1, name: "NVIDIA A100-SXM4-40GB".into(), memory_mib: 40960 });
        let choices = choices(&gpus);
        assert_eq!(choices[0].spec, "cpu");
        assert_eq!(choices.len(), if cuda_built() { 3 } else { 1 });
    }
}

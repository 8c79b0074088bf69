//! The one place a compute device is chosen (STYLE.md 5).

use candle_core::Device;

use super::TrainError;

/// `cpu`, `cuda` or `cuda:N`. A CUDA device in a build without the `cuda` feature is an error
/// that says how to get one.
pub fn select_device(spec: &str) -> Result<Device, TrainError> {
    let spec = spec.trim().to_ascii_lowercase();
    if spec == "cpu" {
        return Ok(Device::Cpu);
    }
    let ordinal = match spec.strip_prefix("cuda") {
        Some("") => 0,
        Some(rest) => rest
            .strip_prefix(':')
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| TrainError::Data(format!("device {spec:?} is not cpu, cuda or cuda:N")))?,
        None => return Err(TrainError::Data(format!("device {spec:?} is not cpu, cuda or cuda:N"))),
    };
    if !candle_core::utils::cuda_is_available() {
        return Err(TrainError::Data(format!(
            "device {spec} needs a build with CUDA support (cargo build --release --features cuda) and an NVIDIA GPU"
        )));
    }
    Ok(Device::new_cuda(ordinal)?)
}

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
    Device::new_cuda(ordinal).map_err(|e| {
        TrainError::Data(format!(
            "device cuda:{ordinal} could not be opened; is there a GPU with that number (`nvidia-smi -L` lists them)? {e}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_and_malformed_specs() {
        assert!(select_device(" CPU ").is_ok_and(|d| d.is_cpu()));
        for bad in ["gpu", "cuda:x", "cuda-1", "cuda:"] {
            let message = select_device(bad).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(message.contains("is not cpu, cuda or cuda:N"), "{bad}: {message}");
        }
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_in_a_cpu_build_says_how_to_get_one() {
        for spec in ["cuda", "cuda:0", "cuda:3"] {
            let message = select_device(spec).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(message.contains("--features cuda"), "{spec}: {message}");
        }
    }
}

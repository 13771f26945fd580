//! Run-time CPU feature detection. The build stays portable (no `target-cpu=native`);
//! kernels that have SIMD paths pick them from what this module reports.

/// One detectable instruction-set extension and whether this CPU has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuFeature {
    pub name: &'static str,
    pub present: bool,
}

/// The features BaconAlgo's kernels care about, detected on the running CPU.
pub fn cpu_features() -> Vec<CpuFeature> {
    detect()
}

#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
fn detect() -> Vec<CpuFeature> {
    vec![
        CpuFeature {
            name: "sse4.2",
            present: std::arch::is_x86_feature_detected!("sse4.2"),
        },
        CpuFeature {
            name: "avx",
            present: std::arch::is_x86_feature_detected!("avx"),
        },
        CpuFeature {
            name: "avx2",
            present: std::arch::is_x86_feature_detected!("avx2"),
        },
        CpuFeature {
            name: "fma",
            present: std::arch::is_x86_feature_detected!("fma"),
        },
        CpuFeature {
            name: "avx512f",
            present: std::arch::is_x86_feature_detected!("avx512f"),
        },
    ]
}

#[cfg(target_arch = "aarch64")]
fn detect() -> Vec<CpuFeature> {
    vec![CpuFeature {
        name: "neon",
        present: std::arch::is_aarch64_feature_detected!("neon"),
    }]
}

#[cfg(not(any(target_arch = "x86", target_arch = "x86_64", target_arch = "aarch64")))]
fn detect() -> Vec<CpuFeature> {
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn x86_64_features_agree_with_proc_cpuinfo() {
        // /proc/cpuinfo is the kernel's independent reading of CPUID.
        let Ok(info) = std::fs::read_to_string("/proc/cpuinfo") else {
            return;
        };
        let flags: Vec<&str> = info
            .lines()
            .find(|l| l.starts_with("flags"))
            .map(|l| l.split_whitespace().collect())
            .unwrap_or_default();
        let has = |f: &str| flags.contains(&f);
        let found = cpu_features();
        let get = |n: &str| {
            found
                .iter()
                .find(|f| f.name == n)
                .map(|f| f.present)
                .unwrap()
        };
        assert_eq!(get("sse4.2"), has("sse4_2"));
        assert_eq!(get("avx2"), has("avx2"));
        assert_eq!(get("fma"), has("fma"));
        assert_eq!(get("avx512f"), has("avx512f"));
    }
}

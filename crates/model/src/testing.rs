//! Test utilities shared by every model-side crate.
//!
//! - [`backend_tests!`](crate::backend_tests): one generic test body,
//!   instantiated on ndarray and flex (and cuda when the calling crate's
//!   `cuda` feature is on; that feature must enable `omnivox-model/cuda`).
//! - [`fixture_dir`]: `fixtures/<name>` at the workspace root.
//! - [`Reference`]: the inputs and outputs a reference script stored in a
//!   fixture's `reference.safetensors`.
//! - [`assert_close`]: an elementwise tolerance check that reports the worst
//!   element.

use crate::error::{Error, Result};
use crate::loader::Checkpoint;
use burn::tensor::{Tensor, TensorData, backend::Backend};
use std::path::{Path, PathBuf};

/// The ndarray backend the tests run on.
pub type NdArray = burn_ndarray::NdArray;
/// The flex backend the tests run on.
pub type Flex = burn_flex::Flex;
/// The CUDA backend the tests run on where a GPU is present.
#[cfg(feature = "cuda")]
pub type Cuda = burn_cuda::Cuda;

/// Instantiates generic test bodies on every backend.
///
/// Each named function must have the signature
/// `fn name<B: Backend>(device: &B::Device)` (returning `()` or a
/// `Result<(), E: Debug>`); the macro writes `mod ndarray`, `mod flex` and,
/// when the calling crate's `cuda` feature is on, `mod cuda`, each with one
/// `#[test]` per name.
///
/// ```
/// use burn::tensor::{Tensor, backend::Backend};
///
/// fn ones_sum<B: Backend>(device: &B::Device) {
///     let t = Tensor::<B, 1>::ones([4], device);
///     assert_eq!(t.sum().into_scalar().elem::<f32>(), 4.0);
/// }
/// omnivox_model::backend_tests!(ones_sum);
/// # use burn::tensor::ElementConversion;
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),+ $(,)?) => {
        mod ndarray {
            $(
                #[test]
                fn $name() -> impl ::std::process::Termination {
                    super::$name::<$crate::testing::NdArray>(&::core::default::Default::default())
                }
            )+
        }
        mod flex {
            $(
                #[test]
                fn $name() -> impl ::std::process::Termination {
                    super::$name::<$crate::testing::Flex>(&::core::default::Default::default())
                }
            )+
        }
        #[cfg(feature = "cuda")]
        mod cuda {
            $(
                #[test]
                fn $name() -> impl ::std::process::Termination {
                    super::$name::<$crate::testing::Cuda>(&::core::default::Default::default())
                }
            )+
        }
    };
}

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// `fixtures/<name>` at the workspace root.
pub fn fixture_dir(name: &str) -> PathBuf {
    workspace_root().join("fixtures").join(name)
}

/// The tensors a reference script saved (`reference.safetensors`).
#[derive(Debug)]
pub struct Reference {
    file: Checkpoint,
}

impl Reference {
    /// Opens `fixtures/<name>/reference.safetensors`.
    pub fn open(name: &str) -> Result<Self> {
        Self::open_file(fixture_dir(name).join("reference.safetensors"))
    }

    /// Opens any safetensors file.
    pub fn open_file(path: impl AsRef<Path>) -> Result<Self> {
        Ok(Self {
            file: Checkpoint::open_file(path)?,
        })
    }

    /// Every stored name.
    pub fn keys(&self) -> Vec<String> {
        self.file.tensors().keys().cloned().collect()
    }

    /// Whether `key` is stored.
    pub fn contains(&self, key: &str) -> bool {
        self.file.info(key).is_some()
    }

    /// A float tensor as `f32` with its shape.
    pub fn f32(&self, key: &str) -> Result<(Vec<f32>, Vec<usize>)> {
        let data = self.file.read_f32(key, false)?;
        let shape = data.shape.to_vec();
        let values = data
            .into_vec::<f32>()
            .map_err(|e| Error::InvalidInput(format!("{key}: {e:?}")))?;
        Ok((values, shape))
    }

    /// An integer or bool tensor as `i64` with its shape.
    pub fn i64(&self, key: &str) -> Result<(Vec<i64>, Vec<usize>)> {
        self.file.read_i64(key)
    }

    /// Integer tensor `key` as `u32` token ids (flattened).
    pub fn ids(&self, key: &str) -> Result<Vec<u32>> {
        let (v, _) = self.i64(key)?;
        v.into_iter()
            .map(|t| {
                u32::try_from(t)
                    .map_err(|_| Error::InvalidInput(format!("{key}: id {t} out of range")))
            })
            .collect()
    }

    /// A float tensor on `device`; its rank must be `D`.
    pub fn tensor<B: Backend, const D: usize>(
        &self,
        key: &str,
        device: &B::Device,
    ) -> Result<Tensor<B, D>> {
        let data = self.file.read_f32(key, false)?;
        if data.shape.num_dims() != D {
            return Err(Error::InvalidInput(format!(
                "{key} has rank {}, not {D}",
                data.shape.num_dims()
            )));
        }
        Ok(Tensor::from_data(data, device))
    }
}

/// A tensor's values as `f32` on the host.
pub fn to_vec<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    let data: TensorData = t.into_data().convert::<f32>();
    data.into_vec::<f32>().expect("converted to f32 just above")
}

/// Checks `|actual - expected| <= atol + rtol * |expected|` elementwise and
/// panics naming `what`, the number of violations and the worst element
/// (its index and both values). NaN never passes.
pub fn assert_close<B: Backend, const D: usize>(
    actual: Tensor<B, D>,
    expected: &[f32],
    atol: f32,
    rtol: f32,
    what: &str,
) {
    let dims = actual.dims();
    let actual = to_vec(actual);
    if let Err(msg) = check_close(&actual, expected, atol, rtol) {
        panic!("{what} (shape {dims:?}): {msg}");
    }
}

/// The slice form of [`assert_close`]: `Err` describes the worst element.
pub fn check_close(
    actual: &[f32],
    expected: &[f32],
    atol: f32,
    rtol: f32,
) -> std::result::Result<(), String> {
    if actual.len() != expected.len() {
        return Err(format!(
            "{} values, expected {}",
            actual.len(),
            expected.len()
        ));
    }
    let mut bad = 0usize;
    let mut worst: Option<(usize, f32)> = None;
    for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        let excess = (a - e).abs() - (atol + rtol * e.abs());
        if excess > 0.0 || excess.is_nan() {
            bad += 1;
            let score = if excess.is_nan() {
                f32::INFINITY
            } else {
                excess
            };
            if worst.is_none_or(|(_, w)| score > w) {
                worst = Some((i, score));
            }
        }
    }
    match worst {
        None => Ok(()),
        Some((i, _)) => Err(format!(
            "{bad} of {} values outside atol {atol} + rtol {rtol}; worst at flat index {i}: {} vs expected {} (|diff| {})",
            actual.len(),
            actual[i],
            expected[i],
            (actual[i] - expected[i]).abs()
        )),
    }
}
